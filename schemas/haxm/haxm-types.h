/*
 * ioctlgrind's own declarations of the HAXM driver's ioctl structures, written from the facts in
 * docs (abi-facts: field names, types, offsets and sizes) so that the compiler can lay them out for
 * each ABI. Not a copy of the driver's headers. HAXM marks its structures PACKED, which its gcc and
 * clang builds turn into __attribute__((packed)) and its MSVC (Windows) build ignores; fx_layout is
 * aligned to 16 and hax_cpuid is not packed.
 */
#ifndef IOCTLGRIND_HAXM_TYPES_H
#define IOCTLGRIND_HAXM_TYPES_H

#include <stdint.h>

#ifdef _WIN32
#define HAX_PACKED
#else
#define HAX_PACKED __attribute__((packed))
#endif

/* API versions */
#define HAX_CUR_VERSION 0x0004
#define HAX_COMPAT_VERSION 0x0001

/* hax_capabilityinfo.wstatus and winfo */
#define HAX_CAP_STATUS_WORKING (1 << 0)
#define HAX_CAP_MEMQUOTA (1 << 1)
#define HAX_CAP_WORKSTATUS_MASK 0x01
#define HAX_CAP_FAILREASON_VT (1 << 0)
#define HAX_CAP_FAILREASON_NX (1 << 1)
#define HAX_CAP_EPT (1 << 0)
#define HAX_CAP_FASTMMIO (1 << 1)
#define HAX_CAP_UG (1 << 2)
#define HAX_CAP_64BIT_RAMBLOCK (1 << 3)
#define HAX_CAP_64BIT_SETRAM (1 << 4)
#define HAX_CAP_TUNNEL_PAGE (1 << 5)
#define HAX_CAP_RAM_PROTECTION (1 << 6)
#define HAX_CAP_DEBUG (1 << 7)
#define HAX_CAP_IMPLICIT_RAMBLOCK (1 << 8)
#define HAX_CAP_CPUID (1 << 9)

/* hax_tunnel._exit_status */
#define HAX_EXIT_IO 1
#define HAX_EXIT_MMIO 2
#define HAX_EXIT_REALMODE 3
#define HAX_EXIT_INTERRUPT 4
#define HAX_EXIT_UNKNOWN 5
#define HAX_EXIT_HLT 6
#define HAX_EXIT_STATECHANGE 7
#define HAX_EXIT_PAUSED 8
#define HAX_EXIT_FAST_MMIO 9
#define HAX_EXIT_PAGEFAULT 10
#define HAX_EXIT_DEBUG 11

#define HAX_IO_OUT 0
#define HAX_IO_IN 1

#define HAX_RAM_INFO_ROM (1 << 0)
#define HAX_RAM_INFO_STANDALONE (1 << 6)
#define HAX_RAM_INFO_INVALID (1 << 7)
#define HAX_RAM_PERM_NONE 0x0
#define HAX_RAM_PERM_RWX 0x7
#define HAX_RAM_PERM_MASK 0x7

#define HAX_DEBUG_ENABLE (1 << 0)
#define HAX_DEBUG_STEP (1 << 1)
#define HAX_DEBUG_USE_SW_BP (1 << 2)
#define HAX_DEBUG_USE_HW_BP (1 << 3)

#define HAX_PAGEFAULT_ACC_R (1 << 0)
#define HAX_PAGEFAULT_ACC_W (1 << 1)
#define HAX_PAGEFAULT_ACC_X (1 << 2)
#define HAX_PAGEFAULT_PERM_R (1 << 4)
#define HAX_PAGEFAULT_PERM_W (1 << 5)
#define HAX_PAGEFAULT_PERM_X (1 << 6)

#define HAX_MAX_MSR_ARRAY 0x20
#define HAX_MAX_CPUID_ENTRIES 0x40

struct vmx_msr {
    uint64_t entry;
    uint64_t value;
} HAX_PACKED;

struct hax_msr_data {
    uint16_t nr_msr;
    uint16_t done;
    uint16_t pad[2];
    struct vmx_msr entries[HAX_MAX_MSR_ARRAY];
} HAX_PACKED;

struct fx_layout {
    uint16_t fcw;
    uint16_t fsw;
    uint8_t ftw;
    uint8_t res1;
    uint16_t fop;
    union {
        struct { uint32_t fip; uint16_t fcs; uint16_t res2; };
        uint64_t fpu_ip;
    };
    union {
        struct { uint32_t fdp; uint16_t fds; uint16_t res3; };
        uint64_t fpu_dp;
    };
    uint32_t mxcsr;
    uint32_t mxcsr_mask;
    uint8_t st_mm[8][16];
    uint8_t mmx_1[8][16];
    uint8_t mmx_2[8][16];
    uint8_t pad[96];
} __attribute__((aligned(16)));

/* The page shared with the driver (its address comes back from SETUP_TUNNEL): not an argument. */
struct hax_tunnel {
    uint32_t _exit_reason;
    uint32_t pad0;
    uint32_t _exit_status;
    uint32_t user_event_pending;
    int ready_for_interrupt_injection;
    int request_interrupt_window;
    union {
        struct {
            uint8_t _direction;
            uint8_t _df;
            uint16_t _size;
            uint16_t _port;
            uint16_t _count;
            uint8_t _flags;
            uint8_t _pad0;
            uint16_t _pad1;
            uint32_t _pad2;
            uint64_t _vaddr;
        } HAX_PACKED io;
        struct {
            uint64_t gla;
        } HAX_PACKED mmio;
        struct {
            uint64_t gpa;
            uint32_t flags;
            uint32_t reserved1;
            uint64_t reserved2;
        } HAX_PACKED pagefault;
        struct {
            uint64_t rip;
            uint64_t dr6;
            uint64_t dr7;
        } HAX_PACKED debug;
    };
    uint64_t apic_base;
} HAX_PACKED;

/* The fast-MMIO record at hax_tunnel_info.io_va. */
struct hax_fastmmio {
    uint64_t gpa;
    union {
        uint64_t value;
        uint64_t gpa2;
    };
    uint8_t size;
    uint8_t direction;
    uint16_t reg_index;
    uint32_t pad0;
    uint64_t _cr0;
    uint64_t _cr2;
    uint64_t _cr3;
    uint64_t _cr4;
} HAX_PACKED;

struct hax_module_version {
    uint32_t compat_version;
    uint32_t cur_version;
} HAX_PACKED;

struct hax_capabilityinfo {
    uint16_t wstatus;
    uint16_t winfo;
    uint32_t win_refcount;
    uint64_t mem_quota;
} HAX_PACKED;

struct hax_tunnel_info {
    uint64_t va;
    uint64_t io_va;
    uint16_t size;
    uint16_t pad[3];
} HAX_PACKED;

struct hax_set_memlimit {
    uint8_t enable_memlimit;
    uint8_t pad[7];
    uint64_t memory_limit;
} HAX_PACKED;

struct hax_alloc_ram_info {
    uint32_t size;
    uint32_t pad;
    uint64_t va;
} HAX_PACKED;

struct hax_ramblock_info {
    uint64_t start_va;
    uint64_t size;
    uint64_t reserved;
} HAX_PACKED;

struct hax_set_ram_info {
    uint64_t pa_start;
    uint32_t size;
    uint8_t flags;
    uint8_t pad[3];
    uint64_t va;
} HAX_PACKED;

struct hax_set_ram_info2 {
    uint64_t pa_start;
    uint64_t size;
    uint64_t va;
    uint32_t flags;
    uint32_t reserved1;
    uint64_t reserved2;
} HAX_PACKED;

struct hax_protect_ram_info {
    uint64_t pa_start;
    uint64_t size;
    uint32_t flags;
    uint32_t reserved;
} HAX_PACKED;

struct hax_qemu_version {
    uint32_t cur_version;
    uint32_t least_version;
} HAX_PACKED;

struct hax_debug_t {
    uint32_t control;
    uint32_t reserved;
    uint64_t dr[8];
} HAX_PACKED;

struct hax_cpuid_entry {
    uint32_t function;
    uint32_t index;
    uint32_t flags;
    uint32_t eax;
    uint32_t ebx;
    uint32_t ecx;
    uint32_t edx;
    uint32_t pad[3];
};

struct hax_cpuid {
    uint32_t total;
    uint32_t pad;
    struct hax_cpuid_entry entries[];
};

struct segment_desc_t {
    uint16_t selector;
    uint16_t _dummy;
    uint32_t limit;
    uint64_t base;
    uint32_t ar;
    uint32_t ipad;
} HAX_PACKED;

struct vcpu_state_t {
    union {
        uint64_t _regs[16];
        struct {
            uint64_t _rax, _rcx, _rdx, _rbx, _rsp, _rbp, _rsi, _rdi;
            uint64_t _r8, _r9, _r10, _r11, _r12, _r13, _r14, _r15;
        };
    };
    uint64_t _rip;
    uint64_t _rflags;
    struct segment_desc_t _cs, _ss, _ds, _es, _fs, _gs, _ldt, _tr, _gdt, _idt;
    uint64_t _cr0, _cr2, _cr3, _cr4;
    uint64_t _dr0, _dr1, _dr2, _dr3, _dr6, _dr7;
    uint64_t _pde;
    uint32_t _efer;
    uint32_t _sysenter_cs;
    uint64_t _sysenter_eip;
    uint64_t _sysenter_esp;
    uint32_t _activity_state;
    uint32_t pad;
    union {
        uint32_t raw;
        uint64_t pad;
    } _interruptibility;
} HAX_PACKED;

#endif
