; Real-mode IVT: INT 0x21 to a handler that doubles AX, and a #DE (vector 0) handler that skips
; the DIV. Output "IE", AX=42 left in BX, exit 0.
bits 16
org 0x1000

start:
        xor ax, ax
        mov ds, ax
        mov word [0x21 * 4], int21
        mov word [0x21 * 4 + 2], 0
        mov word [0 * 4], de
        mov word [0 * 4 + 2], 0
        mov ax, 21
        int 0x21
        mov bx, ax
        xor cx, cx
        div cl                      ; #DE, 2 bytes
        mov dx, 0x3f8
        mov al, 10
        out dx, al
        xor al, al
        out 0xf4, al

int21:  add ax, ax
        push ax
        mov dx, 0x3f8
        mov al, 'I'
        out dx, al
        pop ax
        iret

de:     push bp
        mov bp, sp
        add word [bp + 2], 2        ; the saved IP points at the DIV: skip it
        pop bp
        mov dx, 0x3f8
        mov al, 'E'
        out dx, al
        iret
