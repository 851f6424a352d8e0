; String port I/O (real mode): REP INSB of 10 bytes from port 0x60 into buf, REP OUTSW of the
; same 10 bytes (5 words) to port 0x3f8, INSW backwards with DF=1 (2 words), then exit 0.
bits 16
org 0x1000

start:
        xor ax, ax
        mov es, ax
        cld
        mov di, buf
        mov cx, 10
        mov dx, 0x60
        rep insb
        mov si, buf
        mov cx, 5
        mov dx, 0x3f8
        rep outsw
        std
        mov di, buf2 + 2
        mov cx, 2
        mov dx, 0x61
        rep insw
        cld
        xor al, al
        out 0xf4, al

buf:    times 10 db 0
buf2:   times 4 db 0
