/*
 * The HAXM driver's requests (intel/haxm at its last tree), per OS: POSIX builds use ioctl type 0
 * with the OS's own _IOC encoding; Windows uses CTL_CODE(HAX_DEVICE_TYPE, fn, METHOD_BUFFERED,
 * FILE_ANY_ACCESS). ioctlgrind's own declarations, from the facts; not a copy of the driver's headers.
 */
#ifndef IOCTLGRIND_HAXM_H
#define IOCTLGRIND_HAXM_H

#include "haxm-types.h"
#include "haxm-ioc.h"

#if defined(_WIN32)

/* \\.\HAX */
#define HAX_IOCTL_VERSION HAX_WIN(0x900)
#define HAX_IOCTL_CREATE_VM HAX_WIN(0x901)
#define HAX_IOCTL_CAPABILITY HAX_WIN(0x910)
#define HAX_IOCTL_SET_MEMLIMIT HAX_WIN(0x911)
/* \\.\hax_vmNN */
#define HAX_VM_IOCTL_VCPU_CREATE HAX_WIN(0x902)
#define HAX_VM_IOCTL_ALLOC_RAM HAX_WIN(0x903)
#define HAX_VM_IOCTL_SET_RAM HAX_WIN(0x904)
#define HAX_VM_IOCTL_VCPU_DESTROY HAX_WIN(0x905)
#define HAX_VM_IOCTL_NOTIFY_QEMU_VERSION HAX_WIN(0x910)
#define HAX_VM_IOCTL_ADD_RAMBLOCK HAX_WIN(0x913)
#define HAX_VM_IOCTL_SET_RAM2 HAX_WIN(0x914)
#define HAX_VM_IOCTL_PROTECT_RAM HAX_WIN(0x915)
/* \\.\hax_vmNN_vcpuNN */
#define HAX_VCPU_IOCTL_RUN HAX_WIN(0x906)
#define HAX_VCPU_IOCTL_SET_MSRS HAX_WIN(0x907)
#define HAX_VCPU_IOCTL_GET_MSRS HAX_WIN(0x908)
#define HAX_VCPU_IOCTL_SET_FPU HAX_WIN(0x909)
#define HAX_VCPU_IOCTL_GET_FPU HAX_WIN(0x90a)
#define HAX_VCPU_IOCTL_SETUP_TUNNEL HAX_WIN(0x90b)
#define HAX_VCPU_IOCTL_INTERRUPT HAX_WIN(0x90c)
#define HAX_VCPU_SET_REGS HAX_WIN(0x90d)
#define HAX_VCPU_GET_REGS HAX_WIN(0x90e)
#define HAX_VCPU_IOCTL_KICKOFF HAX_WIN(0x90f)
#define HAX_IOCTL_VCPU_DEBUG HAX_WIN(0x916)
#define HAX_VCPU_IOCTL_SET_CPUID HAX_WIN(0x917)
#define HAX_VCPU_IOCTL_GET_CPUID HAX_WIN(0x918)

#else

#define HAX_IOCTL_TYPE 0

/* /dev/HAX */
#define HAX_IOCTL_VERSION _IOWR(HAX_IOCTL_TYPE, 0x20, struct hax_module_version)
#define HAX_IOCTL_CREATE_VM _IOWR(HAX_IOCTL_TYPE, 0x21, uint32_t)
#define HAX_IOCTL_DESTROY_VM _IOW(HAX_IOCTL_TYPE, 0x22, uint32_t)
#define HAX_IOCTL_CAPABILITY _IOR(HAX_IOCTL_TYPE, 0x23, struct hax_capabilityinfo)
#define HAX_IOCTL_SET_MEMLIMIT _IOWR(HAX_IOCTL_TYPE, 0x24, struct hax_set_memlimit)
/* /dev/hax_vm/vmNN */
#define HAX_VM_IOCTL_VCPU_CREATE_ORIG _IOR(HAX_IOCTL_TYPE, 0x80, int)
#define HAX_VM_IOCTL_VCPU_CREATE _IOWR(HAX_IOCTL_TYPE, 0x80, uint32_t)
#define HAX_VM_IOCTL_ALLOC_RAM _IOWR(HAX_IOCTL_TYPE, 0x81, struct hax_alloc_ram_info)
#define HAX_VM_IOCTL_SET_RAM _IOWR(HAX_IOCTL_TYPE, 0x82, struct hax_set_ram_info)
#define HAX_VM_IOCTL_VCPU_DESTROY _IOR(HAX_IOCTL_TYPE, 0x83, uint32_t)
#define HAX_VM_IOCTL_NOTIFY_QEMU_VERSION _IOW(HAX_IOCTL_TYPE, 0x84, struct hax_qemu_version)
#define HAX_VM_IOCTL_ADD_RAMBLOCK _IOW(HAX_IOCTL_TYPE, 0x85, struct hax_ramblock_info)
#define HAX_VM_IOCTL_SET_RAM2 _IOWR(HAX_IOCTL_TYPE, 0x86, struct hax_set_ram_info2)
#define HAX_VM_IOCTL_PROTECT_RAM _IOWR(HAX_IOCTL_TYPE, 0x87, struct hax_protect_ram_info)
/* /dev/hax_vmNN/vcpuNN */
#define HAX_VCPU_IOCTL_RUN _IO(HAX_IOCTL_TYPE, 0xc0)
#define HAX_VCPU_IOCTL_SET_MSRS _IOWR(HAX_IOCTL_TYPE, 0xc1, struct hax_msr_data)
#define HAX_VCPU_IOCTL_GET_MSRS _IOWR(HAX_IOCTL_TYPE, 0xc2, struct hax_msr_data)
#define HAX_VCPU_IOCTL_SET_FPU _IOW(HAX_IOCTL_TYPE, 0xc3, struct fx_layout)
#define HAX_VCPU_IOCTL_GET_FPU _IOR(HAX_IOCTL_TYPE, 0xc4, struct fx_layout)
#define HAX_VCPU_IOCTL_SETUP_TUNNEL _IOWR(HAX_IOCTL_TYPE, 0xc5, struct hax_tunnel_info)
#define HAX_VCPU_IOCTL_INTERRUPT _IOWR(HAX_IOCTL_TYPE, 0xc6, uint32_t)
#define HAX_VCPU_SET_REGS _IOWR(HAX_IOCTL_TYPE, 0xc7, struct vcpu_state_t)
#define HAX_VCPU_GET_REGS _IOWR(HAX_IOCTL_TYPE, 0xc8, struct vcpu_state_t)
#define HAX_IOCTL_VCPU_DEBUG _IOW(HAX_IOCTL_TYPE, 0xc9, struct hax_debug_t)
#define HAX_VCPU_IOCTL_SET_CPUID _IOW(HAX_IOCTL_TYPE, 0xca, struct hax_cpuid *)
#define HAX_VCPU_IOCTL_GET_CPUID _IOW(HAX_IOCTL_TYPE, 0xcb, struct hax_cpuid *)

#endif

#endif
