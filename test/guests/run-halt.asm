; `ioctlgrind run` test guest: prints one character and halts; HLT ends the run.
bits 16
org 0x1000

        mov dx, 0x3f8
        mov al, 'h'
        out dx, al
        hlt
