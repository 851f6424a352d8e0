; External interrupts (pm32, own GDT/IDT): vector 0x20 increments a counter. The guest halts
; with IF=1 until the counter reaches 3, then exits with the counter as exit code.
bits 32
org 0x1000

start:
        lgdt [gdt_desc]
        jmp 0x08:.reload
.reload:
        mov ax, 0x10
        mov ds, ax
        mov ss, ax
        mov eax, irq_handler
        mov [idt + 0x20 * 8], ax
        mov word [idt + 0x20 * 8 + 2], 0x08
        mov word [idt + 0x20 * 8 + 4], 0x8e00
        shr eax, 16
        mov [idt + 0x20 * 8 + 6], ax
        lidt [idt_desc]
        sti
.wait:  hlt
        cmp dword [count], 3
        jb .wait
        mov al, [count]
        out 0xf4, al

irq_handler:
        inc dword [count]
        iret

align 8
count:  dd 0
gdt:    dq 0
        dq 0x00cf9a000000ffff
        dq 0x00cf92000000ffff
gdt_end:
gdt_desc:
        dw gdt_end - gdt - 1
        dd gdt
idt:    times 0x21 dq 0
idt_end:
idt_desc:
        dw idt_end - idt - 1
        dd idt
