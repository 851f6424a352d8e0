; Triple fault (pm32): an empty IDT (limit 0) makes the #DE's delivery fault (#GP), the two
; contributory faults make a #DF, and the #DF's delivery faults too.
bits 32
org 0x1000

start:
        lidt [idt_desc]
        xor ecx, ecx
        div ecx
        mov al, 1                   ; never reached
        out 0xf4, al

idt_desc:
        dw 0
        dd 0
