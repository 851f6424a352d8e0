; RDMSR/WRMSR (pm32 with its own GDT and IDT): a write/read round trip of LSTAR and SYSENTER_EIP,
; two TSC reads, and an unknown MSR whose #GP the handler counts and skips.
; Leaves: EDI = #GP count, the two TSC reads at 0x7000 and 0x7008. Prints "ok" and exits 0.
bits 32
org 0x1000

start:
        lgdt [gdt_desc]
        jmp 0x08:.reload
.reload:
        mov ax, 0x10
        mov ds, ax
        mov ss, ax
        mov eax, gp_handler
        mov [idt + 13 * 8], ax
        mov word [idt + 13 * 8 + 2], 0x08
        mov word [idt + 13 * 8 + 4], 0x8e00
        shr eax, 16
        mov [idt + 13 * 8 + 6], ax
        lidt [idt_desc]
        xor edi, edi

        mov ecx, 0xc0000082         ; LSTAR
        mov edx, 0xffff8000
        mov eax, 0x12345678
        wrmsr
        xor eax, eax
        xor edx, edx
        rdmsr
        cmp edx, 0xffff8000
        jne fail
        cmp eax, 0x12345678
        jne fail
        mov ecx, 0x176              ; SYSENTER_EIP
        mov eax, 0xcafe
        xor edx, edx
        wrmsr
        rdmsr
        cmp eax, 0xcafe
        jne fail

        rdtsc
        mov [0x7000], eax
        mov [0x7004], edx
        nop
        rdtsc
        mov [0x7008], eax
        mov [0x700c], edx

        mov ecx, 0x12345678         ; unknown MSR: #GP
        rdmsr
        wrmsr
        cmp edi, 2
        jne fail
        mov dx, 0x3f8
        mov al, 'o'
        out dx, al
        mov al, 'k'
        out dx, al
        mov al, 0
        out 0xf4, al
fail:   mov al, 1
        out 0xf4, al

gp_handler:                         ; error code on the stack, then EIP
        inc edi
        add esp, 4
        add dword [esp], 2          ; skip the 2-byte RDMSR/WRMSR
        iret

align 8
gdt:    dq 0
        dq 0x00cf9a000000ffff
        dq 0x00cf92000000ffff
gdt_end:
gdt_desc:
        dw gdt_end - gdt - 1
        dd gdt
idt:    times 32 dq 0
idt_end:
idt_desc:
        dw idt_end - idt - 1
        dd idt
