; MMIO in the hole at 0xb8000 (pm32): writes of 1, 2 and 4 bytes, a 4-byte read, a
; read-modify-write and a movzx read. Results are left in registers for the test:
; EAX = the dword read, EBX = the movzx'd byte, ESI = 0x600d on success. Exit 0.
bits 32
org 0x1000

start:
        mov byte [0xb8000], 'A'
        mov word [0xb8002], 0x0742
        mov dword [0xb8004], 0xdeadbeef
        mov eax, [0xb8010]
        add dword [0xb8020], 5
        movzx ebx, byte [0xb8030]
        mov esi, 0x600d
        mov [0x7000], eax           ; plain RAM store keeps working between MMIO accesses
        cmp [0x7000], eax
        jne fail
        xor ecx, ecx
        mov al, 0
        out 0xf4, al
fail:   mov al, 1
        out 0xf4, al
