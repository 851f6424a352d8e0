// What KVM_CHECK_EXTENSION answers on the emulated core: the capabilities its front-end implements,
// by name (numbers come from the schema set), with KVM's values. Anything else is 0.

import type { SchemaSet } from '../../schemas/model.js';

/** Slot ids a VM may use (KVM_MEM_SLOTS_NUM minus KVM's internal slots on x86). */
export const USER_MEM_SLOTS = 32764;
/** vCPU ids must be below this (KVM_MAX_VCPU_IDS on x86). */
export const MAX_VCPU_IDS = 4096;
/** vCPUs a VM may have; the core runs them one at a time on one thread. */
export const MAX_VCPUS = 1024;

const SUPPORTED: Record<string, number> = {
  KVM_CAP_USER_MEMORY: 1,
  KVM_CAP_SET_TSS_ADDR: 1,
  KVM_CAP_EXT_CPUID: 1,
  KVM_CAP_NR_VCPUS: 1,
  KVM_CAP_MAX_VCPUS: MAX_VCPUS,
  KVM_CAP_MAX_VCPU_ID: MAX_VCPU_IDS,
  KVM_CAP_NR_MEMSLOTS: USER_MEM_SLOTS,
  KVM_CAP_READONLY_MEM: 1,
  KVM_CAP_DEVICE_CTRL: 1,
  KVM_CAP_SYS_ATTRIBUTES: 1,
  KVM_CAP_IMMEDIATE_EXIT: 1,
  KVM_CAP_DEBUGREGS: 1,
  KVM_CAP_DESTROY_MEMORY_REGION_WORKS: 1,
  KVM_CAP_JOIN_MEMORY_REGIONS_WORKS: 1,
  // KVM's in-kernel devices and vCPU state (vm-irq.ts, vcpu-kvm.ts, in-kernel.ts).
  KVM_CAP_IRQCHIP: 1,
  KVM_CAP_IRQ_INJECT_STATUS: 1,
  KVM_CAP_IRQ_ROUTING: 4096,
  KVM_CAP_PIT2: 1,
  KVM_CAP_PIT_STATE2: 1,
  KVM_CAP_IOEVENTFD: 1,
  KVM_CAP_COALESCED_MMIO: 2,
  KVM_CAP_COALESCED_PIO: 1,
  KVM_CAP_ADJUST_CLOCK: 1,
  KVM_CAP_MP_STATE: 1,
  KVM_CAP_MCE: 32,
  KVM_CAP_VCPU_EVENTS: 1,
  KVM_CAP_TSC_CONTROL: 1,
  KVM_CAP_GET_TSC_KHZ: 1,
  KVM_CAP_ENABLE_CAP: 1,
  KVM_CAP_ENABLE_CAP_VM: 1,
  KVM_CAP_XSAVE: 1,
  KVM_CAP_XCRS: 1,
  KVM_CAP_XSAVE2: 4096,
  KVM_CAP_SREGS2: 1,
  KVM_CAP_KVMCLOCK_CTRL: 1,
  KVM_CAP_SET_IDENTITY_MAP_ADDR: 1,
  KVM_CAP_GET_MSR_FEATURES: 1,
  KVM_CAP_X86_MSR_FILTER: 1,
  KVM_CAP_EXCEPTION_PAYLOAD: 1,
  KVM_CAP_X86_TRIPLE_FAULT_EVENT: 1,
  // KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE | KVM_DIRTY_LOG_INITIALLY_SET.
  KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2: 3,
  KVM_CAP_SIGNAL_MSI: 1,
  KVM_CAP_SET_BOOT_CPU_ID: 1,
};

export function capabilityTable(set: SchemaSet): Map<number, number> {
  const out = new Map<number, number>();
  for (const [name, value] of Object.entries(SUPPORTED)) {
    const n = set.constants[name];
    if (n !== undefined) out.set(n, value);
  }
  return out;
}
