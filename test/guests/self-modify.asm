; Self-modifying code (pm32): runs a MOV EAX, imm32 once, patches its immediate, runs it again.
; The second result must be the patched value. EBX = first, EAX = second. Exit 0.
bits 32
org 0x1000

start:
        xor edi, edi
again:
patch:  mov eax, 0x11111111
        inc edi
        cmp edi, 2
        je done
        mov ebx, eax
        mov dword [patch + 1], 0x22222222
        jmp again
done:   mov al, 0
        out 0xf4, al
