; 32-bit paging built by the guest (pm32, own GDT/IDT): 4 KiB pages identity-map the first
; 4 MiB, linear 0x400000 maps to physical 0x1f0000, and linear 0x401000 starts not present.
; A write to 0x401000 faults; the #PF handler records CR2 and the error code, maps the page
; to physical 0x1f1000 and returns so the write is retried. Leaves: [pf_cr2], [pf_err],
; [pf_count]; writes 0x11111111 at 0x400000 and 0x22222222 at 0x401000. Exit 0.
bits 32
org 0x1000

PD equ 0x20000
PT0 equ 0x21000                     ; 0..4 MiB
PT1 equ 0x22000                     ; 4..8 MiB

start:
        lgdt [gdt_desc]
        jmp 0x08:.reload
.reload:
        mov ax, 0x10
        mov ds, ax
        mov es, ax
        mov ss, ax
        mov eax, pf_handler
        mov [idt + 14 * 8], ax
        mov word [idt + 14 * 8 + 2], 0x08
        mov word [idt + 14 * 8 + 4], 0x8e00
        shr eax, 16
        mov [idt + 14 * 8 + 6], ax
        lidt [idt_desc]

        mov edi, PD                 ; clear PD, PT0, PT1
        mov ecx, 3 * 1024
        xor eax, eax
        cld
        rep stosd
        mov dword [PD], PT0 | 3
        mov dword [PD + 4], PT1 | 3
        mov edi, PT0                ; identity map 0..4 MiB
        mov eax, 3
        mov ecx, 1024
.fill:  stosd
        add eax, 0x1000
        loop .fill
        mov dword [PT1], 0x1f0000 | 3

        mov eax, PD
        mov cr3, eax
        mov eax, cr0
        or eax, 0x80000000
        mov cr0, eax

        mov dword [0x400000], 0x11111111
        mov dword [0x401000], 0x22222222
        mov eax, [0x400000]
        cmp eax, 0x11111111
        jne fail
        mov al, 0
        out 0xf4, al
fail:   mov al, 1
        out 0xf4, al

pf_handler:
        push eax
        mov eax, cr2
        mov [pf_cr2], eax
        mov eax, [esp + 4]          ; error code
        mov [pf_err], eax
        inc dword [pf_count]
        mov dword [PT1 + 4], 0x1f1000 | 3
        invlpg [0x401000]
        pop eax
        add esp, 4
        iret

align 4
pf_cr2:   dd 0
pf_err:   dd 0
pf_count: dd 0
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
