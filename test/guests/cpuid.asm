; CPUID (pm32): prints the vendor string of leaf 0, then leaves leaf 1's EAX in ESI, and the
; registers of leaf 0x7fffffff (beyond the table: the max-basic-leaf rule) in EAX..EDX. Exit 0.
bits 32
org 0x1000

start:
        xor eax, eax
        cpuid
        mov [vendor], ebx
        mov [vendor + 4], edx
        mov [vendor + 8], ecx
        mov esi, vendor
        mov ecx, 12
        mov dx, 0x3f8
        rep outsb
        mov eax, 1
        cpuid
        mov esi, eax
        mov eax, 0x7fffffff
        xor ecx, ecx
        cpuid
        push eax
        mov al, 0
        out 0xf4, al

vendor: times 12 db 0
