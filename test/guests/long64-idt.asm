; Exceptions through a 64-bit IDT (long64, own GDT): #DE, INT 0x80, and a #PF on an unmapped
; address whose handler checks CR2 and the error code; the #PF handler runs on IST1 from a TSS.
; Prints "DSP", leaves the #DE frame's RSP alignment (RSP mod 16 at handler entry + 8) in R12
; and the #PF handler's RSP in R13. Exit 0.
bits 64
org 0x1000

%macro GATE 3                       ; vector, handler, ist
        lea rax, [rel %2]
        mov [idt + %1 * 16], ax
        mov word [idt + %1 * 16 + 2], 0x08
        mov byte [idt + %1 * 16 + 4], %3
        mov byte [idt + %1 * 16 + 5], 0x8e
        shr rax, 16
        mov [idt + %1 * 16 + 6], ax
        shr rax, 16
        mov [idt + %1 * 16 + 8], eax
%endmacro

start:
        lgdt [gdt_desc]
        lea rax, [rel tss]          ; TSS descriptor base
        mov [gdt + 0x18 + 2], ax
        shr rax, 16
        mov [gdt + 0x18 + 4], al
        mov [gdt + 0x18 + 7], ah
        mov ax, 0x18
        ltr ax
        GATE 0, de_handler, 0
        GATE 14, pf_handler, 1
        GATE 0x80, sys_handler, 0
        lidt [idt_desc]
        mov rsp, 0x7ff8             ; misaligned on purpose: entry aligns to 16
        mov dx, 0x3f8
        xor ecx, ecx
        xor eax, eax
        div ecx                     ; #DE
        int 0x80
        mov rbx, 0x300000
        mov byte [rbx], 1           ; #PF: not mapped
        mov al, 10
        out dx, al
        xor eax, eax
        out 0xf4, al

de_handler:
        mov r12, rsp
        mov al, 'D'
        out dx, al
        add qword [rsp], 2          ; skip DIV ECX
        iretq
sys_handler:
        mov al, 'S'
        out dx, al
        iretq
pf_handler:
        mov r13, rsp
        mov rax, cr2
        cmp rax, 0x300000
        jne .bad
        cmp qword [rsp], 2          ; not present, write, supervisor
        jne .bad
        mov al, 'P'
        out dx, al
        add rsp, 8
        add qword [rsp], 3          ; skip MOV BYTE [RBX], 1
        iretq
.bad:   mov al, 2
        out 0xf4, al

align 16
gdt:    dq 0
        dq 0x00af9a000000ffff       ; 0x08: 64-bit code
        dq 0x00cf92000000ffff       ; 0x10: data
        dq 0x0000890000000067       ; 0x18: 64-bit TSS (base patched at run time), 16 bytes
        dq 0
gdt_end:
gdt_desc:
        dw gdt_end - gdt - 1
        dq gdt
align 16
tss:    dd 0
        dq 0x7000                   ; RSP0
        dq 0, 0, 0
        dq 0x6000                   ; IST1
        times 0x68 - ($ - tss) db 0
align 16
idt:    times 0x81 * 2 dq 0
idt_end:
idt_desc:
        dw idt_end - idt - 1
        dq idt
