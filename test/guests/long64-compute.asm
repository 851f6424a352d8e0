; 64-bit compute loop (the benchmark guest): RDI iterations (1,000,000 when 0) of a xorshift64
; step summed into RBX, 10 instructions an iteration. Prints RBX in hex and exits 0.
bits 64
org 0x1000

start:
        test rdi, rdi
        jnz .go
        mov edi, 1000000
.go:    mov rcx, rdi
        mov rax, 0x9e3779b97f4a7c15
        xor ebx, ebx
.loop:  mov rdx, rax
        shl rdx, 13
        xor rax, rdx
        mov rdx, rax
        shr rdx, 7
        xor rax, rdx
        mov rdx, rax
        shl rdx, 17
        xor rax, rdx
        add rbx, rax
        dec rcx
        jnz .loop

        mov ecx, 16
        mov dx, 0x3f8
.hex:   rol rbx, 4
        mov eax, ebx
        and eax, 0xf
        mov al, [hexdigits + rax]
        out dx, al
        loop .hex
        mov al, 10
        out dx, al
        xor eax, eax
        out 0xf4, al

hexdigits: db "0123456789abcdef"
