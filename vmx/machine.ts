/** A VM: guest memory with its slots, the shared decode cache, and the vCPUs. */
import { DecodeCache } from './cpu/decode-cache.js';
import { GuestMemory, type SlotSpec } from './memory.js';
import type { Vcpu } from './vcpu.js';

export class Machine {
  readonly memory = new GuestMemory();
  /** Decoded code is keyed by guest-physical address, so every vCPU shares it. */
  readonly code = new DecodeCache();
  readonly vcpus: Vcpu[] = [];

  /** KVM_SET_USER_MEMORY_REGION: add, replace (same slot number) or delete (size 0) a slot. */
  setSlot(spec: SlotSpec): void {
    this.memory.setSlot(spec);
  }
}
