; The guest `ioctlgrind demo` runs, in real mode under the bundled monitor's convention (docs/run.md):
; string output to the serial port, a read of an unclaimed port, an MMIO write and read in the hole
; at 0xb8000, then exit code 0 through port 0xf4. demo.bin is this file assembled by
; `nasm -f bin -o demo.bin demo.asm`; test/demo.test.ts checks that they agree.
bits 16
org 0x1000

start:
        mov si, msg
        mov cx, msg_len
        mov dx, 0x3f8
        cld
        rep outsb               ; string I/O: one exit with every byte
        in al, 0x61             ; unclaimed port: the monitor answers 0xff
        mov bl, al
        push 0xb800
        pop es
        mov byte [es:0], 'X'    ; MMIO write into the hole
        mov al, [es:2]          ; MMIO read: 0xff
        mov bh, al
        xor al, al
        out 0xf4, al            ; exit code 0
        hlt

msg:    db "hello from the demo guest", 10
msg_len equ $ - msg
