; `ioctlgrind run` test guest, real mode: prints a line on port 0x3f8, reads an unclaimed port
; (0xff expected), leaves values in registers and exits with code 3 through port 0xf4.
bits 16
org 0x1000

start:
        mov si, msg
        mov dx, 0x3f8
.next:  lodsb
        test al, al
        jz .done
        out dx, al
        jmp .next
.done:  in al, 0x61
        movzx bx, al                ; BX = 0xff from the monitor
        mov cx, 0x1234
        mov al, 3
        out 0xf4, al
        hlt

msg:    db "real mode ok", 10, 0
