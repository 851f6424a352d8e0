; Port I/O loop (the exits/s benchmark guest), 64-bit: RDI writes of a byte to port 0x80
; (100,000 when 0), then exit 0.
bits 64
org 0x1000

start:
        test rdi, rdi
        jnz .go
        mov edi, 100000
.go:    mov rcx, rdi
        xor eax, eax
.loop:  out 0x80, al
        inc al
        dec rcx
        jnz .loop
        xor eax, eax
        out 0xf4, al
