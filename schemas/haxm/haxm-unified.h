/*
 * The unified numbering proposed in HAXM pull request 121 ("Updating IOCTL interface", never
 * merged), as ioctlgrind read the proposal: per device, 8-bit function codes from 0x00; bit 0x40
 * for platform-specific ioctls, bit 0x80 for extensions; POSIX type 'H' (from the review thread: the
 * legacy numbers use type 0); Windows function codes OR-ed with 0x800. GET_REGS is _IOR, SET_REGS
 * _IOW; KICKOFF and VCPU_CREATE_ORIG are gone; NOTIFY_QEMU_VERSION is kept as a no-op. The legacy
 * numbers stay, with a __LEGACY suffix, for a grace period. The exact code of each ioctl is
 * ioctlgrind's reading of the rules above, not verified against the pull request's final diff.
 */
#ifndef IOCTLGRIND_HAXM_UNIFIED_H
#define IOCTLGRIND_HAXM_UNIFIED_H

#include "haxm-types.h"
#include "haxm-ioc.h"

#define HAX_IOCTL_PLATFORM 0x40
#define HAX_IOCTL_EXTENSION 0x80

#if defined(_WIN32)
#define HAX_UIO(code) HAX_WIN(0x800 | (code))
#define HAX_UIOR(code, t) HAX_WIN(0x800 | (code))
#define HAX_UIOW(code, t) HAX_WIN(0x800 | (code))
#define HAX_UIOWR(code, t) HAX_WIN(0x800 | (code))
#else
#define HAX_IOCTL_TYPE 'H'
#define HAX_UIO(code) _IO(HAX_IOCTL_TYPE, (code))
#define HAX_UIOR(code, t) _IOR(HAX_IOCTL_TYPE, (code), t)
#define HAX_UIOW(code, t) _IOW(HAX_IOCTL_TYPE, (code), t)
#define HAX_UIOWR(code, t) _IOWR(HAX_IOCTL_TYPE, (code), t)
#endif

/* system device */
#define HAX_IOCTL_VERSION HAX_UIOWR(0x00, struct hax_module_version)
#define HAX_IOCTL_CREATE_VM HAX_UIOWR(0x01, uint32_t)
#define HAX_IOCTL_DESTROY_VM HAX_UIOW(0x02, uint32_t)
#define HAX_IOCTL_CAPABILITY HAX_UIOR(0x03, struct hax_capabilityinfo)
#define HAX_IOCTL_SET_MEMLIMIT HAX_UIOWR(HAX_IOCTL_PLATFORM | 0x00, struct hax_set_memlimit)
/* VM device */
#define HAX_VM_IOCTL_VCPU_CREATE HAX_UIOWR(0x00, uint32_t)
#define HAX_VM_IOCTL_ALLOC_RAM HAX_UIOWR(0x01, struct hax_alloc_ram_info)
#define HAX_VM_IOCTL_SET_RAM HAX_UIOWR(0x02, struct hax_set_ram_info)
#define HAX_VM_IOCTL_VCPU_DESTROY HAX_UIOW(0x03, uint32_t)
#define HAX_VM_IOCTL_NOTIFY_QEMU_VERSION HAX_UIOW(0x04, struct hax_qemu_version)
#define HAX_VM_IOCTL_ADD_RAMBLOCK HAX_UIOW(HAX_IOCTL_EXTENSION | 0x00, struct hax_ramblock_info)
#define HAX_VM_IOCTL_SET_RAM2 HAX_UIOWR(HAX_IOCTL_EXTENSION | 0x01, struct hax_set_ram_info2)
#define HAX_VM_IOCTL_PROTECT_RAM HAX_UIOWR(HAX_IOCTL_EXTENSION | 0x02, struct hax_protect_ram_info)
/* vCPU device */
#define HAX_VCPU_IOCTL_RUN HAX_UIO(0x00)
#define HAX_VCPU_IOCTL_SETUP_TUNNEL HAX_UIOWR(0x01, struct hax_tunnel_info)
#define HAX_VCPU_GET_REGS HAX_UIOR(0x02, struct vcpu_state_t)
#define HAX_VCPU_SET_REGS HAX_UIOW(0x03, struct vcpu_state_t)
#define HAX_VCPU_IOCTL_GET_FPU HAX_UIOR(0x04, struct fx_layout)
#define HAX_VCPU_IOCTL_SET_FPU HAX_UIOW(0x05, struct fx_layout)
#define HAX_VCPU_IOCTL_GET_MSRS HAX_UIOWR(0x06, struct hax_msr_data)
#define HAX_VCPU_IOCTL_SET_MSRS HAX_UIOWR(0x07, struct hax_msr_data)
#define HAX_VCPU_IOCTL_INTERRUPT HAX_UIOWR(0x08, uint32_t)
#define HAX_IOCTL_VCPU_DEBUG HAX_UIOW(HAX_IOCTL_EXTENSION | 0x00, struct hax_debug_t)
#define HAX_VCPU_IOCTL_SET_CPUID HAX_UIOW(HAX_IOCTL_EXTENSION | 0x01, struct hax_cpuid *)
#define HAX_VCPU_IOCTL_GET_CPUID HAX_UIOW(HAX_IOCTL_EXTENSION | 0x02, struct hax_cpuid *)

/* The legacy numbers, for the grace period. */
#if defined(_WIN32)
#define HAX_IOCTL_VERSION__LEGACY HAX_WIN(0x900)
#define HAX_IOCTL_CREATE_VM__LEGACY HAX_WIN(0x901)
#define HAX_IOCTL_CAPABILITY__LEGACY HAX_WIN(0x910)
#define HAX_IOCTL_SET_MEMLIMIT__LEGACY HAX_WIN(0x911)
#define HAX_VM_IOCTL_VCPU_CREATE__LEGACY HAX_WIN(0x902)
#define HAX_VM_IOCTL_ALLOC_RAM__LEGACY HAX_WIN(0x903)
#define HAX_VM_IOCTL_SET_RAM__LEGACY HAX_WIN(0x904)
#define HAX_VM_IOCTL_VCPU_DESTROY__LEGACY HAX_WIN(0x905)
#define HAX_VM_IOCTL_NOTIFY_QEMU_VERSION__LEGACY HAX_WIN(0x910)
#define HAX_VM_IOCTL_ADD_RAMBLOCK__LEGACY HAX_WIN(0x913)
#define HAX_VM_IOCTL_SET_RAM2__LEGACY HAX_WIN(0x914)
#define HAX_VM_IOCTL_PROTECT_RAM__LEGACY HAX_WIN(0x915)
#define HAX_VCPU_IOCTL_RUN__LEGACY HAX_WIN(0x906)
#define HAX_VCPU_IOCTL_SET_MSRS__LEGACY HAX_WIN(0x907)
#define HAX_VCPU_IOCTL_GET_MSRS__LEGACY HAX_WIN(0x908)
#define HAX_VCPU_IOCTL_SET_FPU__LEGACY HAX_WIN(0x909)
#define HAX_VCPU_IOCTL_GET_FPU__LEGACY HAX_WIN(0x90a)
#define HAX_VCPU_IOCTL_SETUP_TUNNEL__LEGACY HAX_WIN(0x90b)
#define HAX_VCPU_IOCTL_INTERRUPT__LEGACY HAX_WIN(0x90c)
#define HAX_VCPU_SET_REGS__LEGACY HAX_WIN(0x90d)
#define HAX_VCPU_GET_REGS__LEGACY HAX_WIN(0x90e)
#define HAX_IOCTL_VCPU_DEBUG__LEGACY HAX_WIN(0x916)
#define HAX_VCPU_IOCTL_SET_CPUID__LEGACY HAX_WIN(0x917)
#define HAX_VCPU_IOCTL_GET_CPUID__LEGACY HAX_WIN(0x918)
#else
#define HAX_IOCTL_VERSION__LEGACY _IOWR(0, 0x20, struct hax_module_version)
#define HAX_IOCTL_CREATE_VM__LEGACY _IOWR(0, 0x21, uint32_t)
#define HAX_IOCTL_DESTROY_VM__LEGACY _IOW(0, 0x22, uint32_t)
#define HAX_IOCTL_CAPABILITY__LEGACY _IOR(0, 0x23, struct hax_capabilityinfo)
#define HAX_IOCTL_SET_MEMLIMIT__LEGACY _IOWR(0, 0x24, struct hax_set_memlimit)
#define HAX_VM_IOCTL_VCPU_CREATE__LEGACY _IOWR(0, 0x80, uint32_t)
#define HAX_VM_IOCTL_ALLOC_RAM__LEGACY _IOWR(0, 0x81, struct hax_alloc_ram_info)
#define HAX_VM_IOCTL_SET_RAM__LEGACY _IOWR(0, 0x82, struct hax_set_ram_info)
#define HAX_VM_IOCTL_VCPU_DESTROY__LEGACY _IOR(0, 0x83, uint32_t)
#define HAX_VM_IOCTL_NOTIFY_QEMU_VERSION__LEGACY _IOW(0, 0x84, struct hax_qemu_version)
#define HAX_VM_IOCTL_ADD_RAMBLOCK__LEGACY _IOW(0, 0x85, struct hax_ramblock_info)
#define HAX_VM_IOCTL_SET_RAM2__LEGACY _IOWR(0, 0x86, struct hax_set_ram_info2)
#define HAX_VM_IOCTL_PROTECT_RAM__LEGACY _IOWR(0, 0x87, struct hax_protect_ram_info)
#define HAX_VCPU_IOCTL_RUN__LEGACY _IO(0, 0xc0)
#define HAX_VCPU_IOCTL_SET_MSRS__LEGACY _IOWR(0, 0xc1, struct hax_msr_data)
#define HAX_VCPU_IOCTL_GET_MSRS__LEGACY _IOWR(0, 0xc2, struct hax_msr_data)
#define HAX_VCPU_IOCTL_SET_FPU__LEGACY _IOW(0, 0xc3, struct fx_layout)
#define HAX_VCPU_IOCTL_GET_FPU__LEGACY _IOR(0, 0xc4, struct fx_layout)
#define HAX_VCPU_IOCTL_SETUP_TUNNEL__LEGACY _IOWR(0, 0xc5, struct hax_tunnel_info)
#define HAX_VCPU_IOCTL_INTERRUPT__LEGACY _IOWR(0, 0xc6, uint32_t)
#define HAX_VCPU_SET_REGS__LEGACY _IOWR(0, 0xc7, struct vcpu_state_t)
#define HAX_VCPU_GET_REGS__LEGACY _IOWR(0, 0xc8, struct vcpu_state_t)
#define HAX_IOCTL_VCPU_DEBUG__LEGACY _IOW(0, 0xc9, struct hax_debug_t)
#define HAX_VCPU_IOCTL_SET_CPUID__LEGACY _IOW(0, 0xca, struct hax_cpuid *)
#define HAX_VCPU_IOCTL_GET_CPUID__LEGACY _IOW(0, 0xcb, struct hax_cpuid *)
#endif

#endif
