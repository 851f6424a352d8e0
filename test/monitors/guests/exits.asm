; Exit-heavy guest for the benchmark: as many port-I/O exits as the dword the monitor stored at
; 0x0ff8, then exit with the code from port 0x3fb. Real mode.
bits 16
org 0x1000
    mov ecx, [0x0ff8]
.loop:
    out 0x80, al
    dec ecx
    jnz .loop
    mov dx, 0x3fb
    in al, dx
    out 0xf4, al
    hlt
