/*
 * QEMU's copy of the HAXM interface (target/i386/hax: hax-interface.h with hax-posix.h or
 * hax-windows.h), as ioctlgrind's own declarations from the facts. It differs from the driver's:
 * VCPU_DESTROY is _IOW, it stops at API v2 plus ADD_RAMBLOCK (no SET_MEMLIMIT, SET_RAM2,
 * PROTECT_RAM, VCPU_DEBUG, SET/GET_CPUID, KICKOFF, VCPU_CREATE_ORIG), its hax_tunnel is 48 bytes
 * (no pagefault or debug members, no apic_base), and its fx_layout is aligned to 8.
 */
#ifndef IOCTLGRIND_HAXM_QEMU_H
#define IOCTLGRIND_HAXM_QEMU_H

#include <stdint.h>
#include "haxm-ioc.h"

#define HAX_CUR_VERSION 0x0004
#define HAX_COMPAT_VERSION 0x0004

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

#define HAX_EXIT_IO 1
#define HAX_EXIT_MMIO 2
#define HAX_EXIT_REALMODE 3
#define HAX_EXIT_INTERRUPT 4
#define HAX_EXIT_UNKNOWN_VMEXIT 5
#define HAX_EXIT_HLT 6
#define HAX_EXIT_STATECHANGE 7
#define HAX_EXIT_PAUSED 8
#define HAX_EXIT_FAST_MMIO 9

#define HAX_IO_OUT 0
#define HAX_IO_IN 1

#define HAX_RAM_INFO_ROM 0x01
#define HAX_RAM_INFO_INVALID 0x80

#define HAX_MAX_MSR_ARRAY 0x20

struct vmx_msr {
    uint64_t entry;
    uint64_t value;
} __attribute__((packed));

struct hax_msr_data {
    uint16_t nr_msr;
    uint16_t done;
    uint16_t pad[2];
    struct vmx_msr entries[HAX_MAX_MSR_ARRAY];
} __attribute__((packed));

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
} __attribute__((aligned(8)));

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
        } __attribute__((packed)) io;
        struct {
            uint64_t gla;
        } __attribute__((packed)) mmio;
        struct {
        } __attribute__((packed)) state;
    };
} __attribute__((packed));

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
} __attribute__((packed));

struct hax_module_version {
    uint32_t compat_version;
    uint32_t cur_version;
} __attribute__((packed));

struct hax_capabilityinfo {
    uint16_t wstatus;
    uint16_t winfo;
    uint32_t win_refcount;
    uint64_t mem_quota;
} __attribute__((packed));

struct hax_tunnel_info {
    uint64_t va;
    uint64_t io_va;
    uint16_t size;
    uint16_t pad[3];
} __attribute__((packed));

struct hax_alloc_ram_info {
    uint32_t size;
    uint32_t pad;
    uint64_t va;
} __attribute__((packed));

struct hax_ramblock_info {
    uint64_t start_va;
    uint64_t size;
    uint64_t reserved;
} __attribute__((packed));

struct hax_set_ram_info {
    uint64_t pa_start;
    uint32_t size;
    uint8_t flags;
    uint8_t pad[3];
    uint64_t va;
} __attribute__((packed));

struct hax_qemu_version {
    uint32_t cur_version;
    uint32_t least_version;
} __attribute__((packed));

struct segment_desc_t {
    uint16_t selector;
    uint16_t _dummy;
    uint32_t limit;
    uint64_t base;
    uint32_t ar;
    uint32_t ipad;
} __attribute__((packed));

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
} __attribute__((packed));

#if defined(_WIN32)

#define HAX_IOCTL_VERSION HAX_WIN(0x900)
#define HAX_IOCTL_CREATE_VM HAX_WIN(0x901)
#define HAX_IOCTL_CAPABILITY HAX_WIN(0x910)
#define HAX_VM_IOCTL_VCPU_CREATE HAX_WIN(0x902)
#define HAX_VM_IOCTL_ALLOC_RAM HAX_WIN(0x903)
#define HAX_VM_IOCTL_SET_RAM HAX_WIN(0x904)
#define HAX_VM_IOCTL_VCPU_DESTROY HAX_WIN(0x905)
#define HAX_VM_IOCTL_ADD_RAMBLOCK HAX_WIN(0x913)
#define HAX_VCPU_IOCTL_RUN HAX_WIN(0x906)
#define HAX_VCPU_IOCTL_SET_MSRS HAX_WIN(0x907)
#define HAX_VCPU_IOCTL_GET_MSRS HAX_WIN(0x908)
#define HAX_VCPU_IOCTL_SET_FPU HAX_WIN(0x909)
#define HAX_VCPU_IOCTL_GET_FPU HAX_WIN(0x90a)
#define HAX_VCPU_IOCTL_SETUP_TUNNEL HAX_WIN(0x90b)
#define HAX_VCPU_IOCTL_INTERRUPT HAX_WIN(0x90c)
#define HAX_VCPU_SET_REGS HAX_WIN(0x90d)
#define HAX_VCPU_GET_REGS HAX_WIN(0x90e)
#define HAX_VM_IOCTL_NOTIFY_QEMU_VERSION HAX_WIN(0x910)

#else

#define HAX_IOCTL_VERSION _IOWR(0, 0x20, struct hax_module_version)
#define HAX_IOCTL_CREATE_VM _IOWR(0, 0x21, uint32_t)
#define HAX_IOCTL_DESTROY_VM _IOW(0, 0x22, uint32_t)
#define HAX_IOCTL_CAPABILITY _IOR(0, 0x23, struct hax_capabilityinfo)
#define HAX_VM_IOCTL_VCPU_CREATE _IOWR(0, 0x80, uint32_t)
#define HAX_VM_IOCTL_ALLOC_RAM _IOWR(0, 0x81, struct hax_alloc_ram_info)
#define HAX_VM_IOCTL_SET_RAM _IOWR(0, 0x82, struct hax_set_ram_info)
#define HAX_VM_IOCTL_VCPU_DESTROY _IOW(0, 0x83, uint32_t)
#define HAX_VM_IOCTL_NOTIFY_QEMU_VERSION _IOW(0, 0x84, struct hax_qemu_version)
#define HAX_VM_IOCTL_ADD_RAMBLOCK _IOW(0, 0x85, struct hax_ramblock_info)
#define HAX_VCPU_IOCTL_RUN _IO(0, 0xc0)
#define HAX_VCPU_IOCTL_SET_MSRS _IOWR(0, 0xc1, struct hax_msr_data)
#define HAX_VCPU_IOCTL_GET_MSRS _IOWR(0, 0xc2, struct hax_msr_data)
#define HAX_VCPU_IOCTL_SET_FPU _IOW(0, 0xc3, struct fx_layout)
#define HAX_VCPU_IOCTL_GET_FPU _IOR(0, 0xc4, struct fx_layout)
#define HAX_VCPU_IOCTL_SETUP_TUNNEL _IOWR(0, 0xc5, struct hax_tunnel_info)
#define HAX_VCPU_IOCTL_INTERRUPT _IOWR(0, 0xc6, uint32_t)
#define HAX_VCPU_SET_REGS _IOWR(0, 0xc7, struct vcpu_state_t)
#define HAX_VCPU_GET_REGS _IOWR(0, 0xc8, struct vcpu_state_t)

#endif

#endif
