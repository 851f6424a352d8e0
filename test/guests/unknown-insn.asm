; An x87 instruction the emulator does not implement, at a known address (0x1005).
bits 32
org 0x1000

start:
        mov eax, 1
        fld1
        mov al, 0
        out 0xf4, al
