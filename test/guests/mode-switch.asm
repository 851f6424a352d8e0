; Starts in real mode and switches itself to 32-bit protected mode and then to 64-bit long mode,
; building its own GDT and identity-mapped page tables (2 MiB page at 0x10000..0x12fff tables).
; Prints "R", "P", "L" as it reaches each mode, checks EFER.LMA and some 64-bit arithmetic.
bits 16
org 0x1000

start:
        cli
        xor ax, ax
        mov ds, ax
        mov dx, 0x3f8
        mov al, 'R'
        out dx, al
        lgdt [gdt_desc]
        mov eax, cr0
        or eax, 1
        mov cr0, eax
        jmp 0x08:pm32

bits 32
pm32:
        mov ax, 0x10
        mov ds, ax
        mov es, ax
        mov ss, ax
        mov esp, 0x8000
        mov al, 'P'
        out dx, al

        mov edi, 0x10000            ; zero PML4, PDPT, PD
        mov ecx, 3 * 4096 / 4
        xor eax, eax
        rep stosd
        mov dword [0x10000], 0x11003
        mov dword [0x11000], 0x12003
        mov dword [0x12000], 0x83   ; 2 MiB page at 0, present, writable

        mov eax, cr4
        or eax, 0x20                ; PAE
        mov cr4, eax
        mov eax, 0x10000
        mov cr3, eax
        mov ecx, 0xc0000080         ; EFER.LME
        rdmsr
        or eax, 0x100
        wrmsr
        mov eax, cr0
        or eax, 0x80000000          ; paging on: long mode becomes active
        mov cr0, eax
        jmp 0x18:lm64

bits 64
lm64:
        mov ax, 0x10
        mov ds, ax
        mov ss, ax
        mov ecx, 0xc0000080
        rdmsr
        test eax, 0x400             ; EFER.LMA
        jz fail
        mov dx, 0x3f8
        mov al, 'L'
        out dx, al

        mov rax, 0x123456789
        mov rbx, 0x100000000
        add rax, rbx
        mov rcx, 0x223456789
        cmp rax, rcx
        jne fail
        push rax                    ; 64-bit stack
        pop rbx
        cmp rbx, rcx
        jne fail
        mov al, 10
        out dx, al
        xor eax, eax
        out 0xf4, al
fail:
        mov al, 1
        out 0xf4, al

align 8
gdt:    dq 0
        dq 0x00cf9a000000ffff       ; 0x08: 32-bit code
        dq 0x00cf92000000ffff       ; 0x10: data
        dq 0x00af9a000000ffff       ; 0x18: 64-bit code
gdt_end:
gdt_desc:
        dw gdt_end - gdt - 1
        dd gdt
