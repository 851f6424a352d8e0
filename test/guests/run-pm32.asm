; `ioctlgrind run` test guest, 32-bit protected mode: sums 1..100 into EBX, prints a line, reads
; MMIO in the hole (0xff bytes expected), writes MMIO and exits with code 5.
bits 32
org 0x1000

start:
        xor ebx, ebx
        mov ecx, 100
.sum:   add ebx, ecx
        loop .sum                   ; EBX = 5050
        mov esi, msg
        mov dx, 0x3f8
.next:  lodsb
        test al, al
        jz .done
        out dx, al
        jmp .next
.done:  mov edi, [0xb8000]          ; MMIO read: EDI = 0xffffffff
        mov dword [0xb8010], 0x11223344   ; MMIO write
        push dword 0xcafe           ; the stack below 0x8000 works
        pop ebp
        mov al, 5
        out 0xf4, al
        hlt

msg:    db "pm32 ok", 10, 0
