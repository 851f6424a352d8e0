; 32-bit protected-mode compute guest: a sieve of Eratosthenes below 10000, the sum of the primes
; printed in decimal, then an FNV-1a hash of the sieve printed in hex (via xlat), then exit 0.
bits 32
org 0x1000

N equ 10000
SIEVE equ 0x10000

start:
        mov edi, SIEVE
        mov ecx, N
        xor eax, eax
        cld
        rep stosb
        mov ebx, 2
.outer: mov eax, ebx
        imul eax, ebx
        cmp eax, N
        jae .sum
        cmp byte [SIEVE + ebx], 0
        jne .next
.mark:  mov byte [SIEVE + eax], 1
        add eax, ebx
        cmp eax, N
        jb .mark
.next:  inc ebx
        jmp .outer

.sum:   xor esi, esi
        mov ebx, 2
.sloop: cmp byte [SIEVE + ebx], 0
        jne .skip
        add esi, ebx
.skip:  inc ebx
        cmp ebx, N
        jb .sloop
        mov eax, esi
        call print_dec
        mov al, 10
        out dx, al

        mov eax, 2166136261         ; FNV-1a over the sieve bytes
        mov esi, SIEVE
        mov ecx, N
.hash:  movzx ebx, byte [esi]
        xor eax, ebx
        imul eax, eax, 16777619
        inc esi
        loop .hash
        call print_hex
        mov al, 10
        out dx, al
        xor al, al
        out 0xf4, al

; print eax in decimal on port 0x3f8; leaves dx = 0x3f8
print_dec:
        push ebx
        mov ebx, 10
        xor ecx, ecx
.d:     xor edx, edx
        div ebx
        push edx
        inc ecx
        test eax, eax
        jnz .d
        mov dx, 0x3f8
.p:     pop eax
        add al, '0'
        out dx, al
        loop .p
        pop ebx
        ret

; print eax as 8 hex digits
print_hex:
        mov ecx, 8
        mov edx, eax
        mov ebx, hexdigits
.h:     rol edx, 4
        mov eax, edx
        and eax, 0xf
        xlatb
        push edx
        mov dx, 0x3f8
        out dx, al
        pop edx
        loop .h
        mov dx, 0x3f8
        ret

hexdigits: db "0123456789abcdef"
