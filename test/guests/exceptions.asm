; Exceptions through a 32-bit IDT: #DE (div by zero), #UD (ud2), #GP (unknown MSR), #BP (int3)
; and INT 0x80 through a trap gate. Each handler prints a letter and resumes after the faulting
; instruction. Expected output "DUGBS", then exit 0. EBP counts #DE deliveries; [de_eip] keeps
; the EIP the #DE frame pushed (the faulting DIV itself).
bits 32
org 0x1000

%macro GATE 3                       ; vector, handler, type (0x8e interrupt gate, 0x8f trap gate)
        mov eax, %2
        mov [idt + %1 * 8], ax
        mov word [idt + %1 * 8 + 2], 0x08
        mov byte [idt + %1 * 8 + 5], %3
        shr eax, 16
        mov [idt + %1 * 8 + 6], ax
%endmacro

start:
        lgdt [gdt_desc]
        jmp 0x08:.reload
.reload:
        mov ax, 0x10
        mov ds, ax
        mov es, ax
        mov ss, ax
        GATE 0, de_handler, 0x8e
        GATE 3, bp_handler, 0x8e
        GATE 6, ud_handler, 0x8e
        GATE 13, gp_handler, 0x8e
        GATE 0x80, sys_handler, 0x8f
        lidt [idt_desc]
        mov dx, 0x3f8
        xor ebp, ebp

        mov eax, 100
        xor ecx, ecx
        xor edx, edx
div_at: div ecx                     ; #DE, 2 bytes
        ud2                         ; #UD, 2 bytes
        mov ecx, 0x0badc0de
        rdmsr                       ; #GP(0), 2 bytes
        int3                        ; #BP is a trap: resumes after it
        int 0x80
        mov dx, 0x3f8
        mov al, 10
        out dx, al
        xor al, al
        out 0xf4, al

de_handler:
        inc ebp
        mov eax, [esp]
        mov [de_eip], eax
        mov al, 'D'
        jmp skip2
ud_handler:
        mov al, 'U'
        jmp skip2
gp_handler:
        add esp, 4                  ; the error code
        mov al, 'G'
skip2:  mov dx, 0x3f8
        out dx, al
        add dword [esp], 2
        iret
bp_handler:
        mov al, 'B'
        mov dx, 0x3f8
        out dx, al
        iret
sys_handler:
        pushf                       ; a trap gate leaves IF as it was: IF=0 here since we never set it
        mov al, 'S'
        mov dx, 0x3f8
        out dx, al
        popf
        iret

align 8
de_eip: dd 0
gdt:    dq 0
        dq 0x00cf9a000000ffff
        dq 0x00cf92000000ffff
gdt_end:
gdt_desc:
        dw gdt_end - gdt - 1
        dd gdt
idt:    times 0x81 dq 0
idt_end:
idt_desc:
        dw idt_end - idt - 1
        dd idt
