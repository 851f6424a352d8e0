; Real-mode hello: string output with rep outsb and a byte loop with out, a port read, then exit.
; Convention: loaded and entered at 0x1000, CS=DS=ES=SS=0, SP=0x8000.
bits 16
org 0x1000

start:
        cld
        mov si, msg
        mov cx, msg_len
        mov dx, 0x3f8
        rep outsb                   ; one exit per byte (KVM's emulator hands OUTS one element at a time)

        mov si, msg2                ; the same text again, a byte at a time with lodsb/out/loop
        mov cx, msg2_len
.loop:  lodsb
        out dx, al
        loop .loop

        in al, 0x60                 ; unclaimed port: the monitor answers 0xff
        cmp al, 0xff
        jne fail
        mov al, 0
        out 0xf4, al
fail:   mov al, 1
        out 0xf4, al

msg:    db "Hello, "
msg_len equ $ - msg
msg2:   db "real mode!", 10
msg2_len equ $ - msg2
