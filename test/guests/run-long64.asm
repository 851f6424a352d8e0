; `ioctlgrind run` test guest, 64-bit long mode: 64-bit arithmetic into R8 and RBX, a line on the
; console, an IN of a word from an unclaimed port, then exit code 9.
bits 64
org 0x1000

start:
        mov rax, 0x123456789
        mov r8, rax
        shl r8, 4                   ; R8 = 0x1234567890
        lea rbx, [rax + rax*2]
        lea rsi, [rel msg]
        mov dx, 0x3f8
.next:  lodsb
        test al, al
        jz .done
        out dx, al
        jmp .next
.done:  mov dx, 0x70
        in ax, dx                   ; AX = 0xffff
        mov r9, rax
        mov al, 9
        out 0xf4, al
        hlt

msg:    db "long64 ok", 10, 0
