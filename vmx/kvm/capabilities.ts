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
};

export function capabilityTable(set: SchemaSet): Map<number, number> {
  const out = new Map<number, number>();
  for (const [name, value] of Object.entries(SUPPORTED)) {
    const n = set.constants[name];
    if (n !== undefined) out.set(n, value);
  }
  return out;
}
