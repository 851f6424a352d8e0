// The objects behind the HAXM front-end's fds: /dev/HAX, VMs (opened by path after CREATE_VM, with
// their RAM blocks, guest-physical mappings and page protections) and vCPUs (opened by path after
// VCPU_CREATE, with the hax_tunnel and I/O buffer pages the driver maps into the process).

import { Machine, Vcpu } from '../index.js';
import type { UserMemory } from '../kvm/user-memory.js';
import { SharedPages } from '../kvm/objects.js';

export class SystemObject {
  readonly kind = 'system';
}

/** A span of user memory registered with ALLOC_RAM or ADD_RAMBLOCK: what SET_RAM may map. */
export interface RamBlock {
  va: number;
  size: number;
}

/** Guest-physical pages SET_RAM mapped to user memory (`va` the user address of `gpa`). */
export interface RamMapping {
  gpa: number;
  size: number;
  va: number;
  rom: boolean;
}

export class VmObject {
  readonly kind = 'vm';
  readonly machine = new Machine();
  readonly blocks: RamBlock[] = [];
  /** Sorted by gpa, never overlapping: SET_RAM over mapped pages replaces them. */
  mappings: RamMapping[] = [];
  /** Guest page numbers PROTECT_RAM took all access from. */
  readonly protectedPages = new Set<number>();
  /** The first page past every page SET_RAM named: the driver's protection bitmap ends there. */
  protectableEnd = 0;
  readonly vcpus = new Map<number, VcpuObject>();
  /** What NOTIFY_QEMU_VERSION said, if it was called. */
  qemuVersion: { cur: number; least: number } | undefined;

  constructor(readonly id: number) {}
}

/** What the last exit left for the monitor to complete on the next RUN: data in the I/O buffer. */
export type PendingCompletion = { kind: 'in'; length: number } | { kind: 'mmio-read'; length: number } | undefined;

/** The tunnel's two pages within the vCPU's shared pages: hax_tunnel, then the I/O buffer. */
export const TUNNEL_OFFSET = 0;
export const IOBUF_OFFSET = 4096;

export class VcpuObject {
  readonly kind = 'vcpu';
  readonly core: Vcpu;
  /**
   * The kernel pages shared with the process, held as the KVM front-end holds kvm_run (every access
   * logged at the address they are mapped at): page 0 the hax_tunnel, page 1 the I/O buffer.
   */
  readonly shared: SharedPages;
  pending: PendingCompletion;
  /** INTERRUPT's vectors not yet handed to the core, which holds one at a time (HAXM keeps a bitmap). */
  readonly interrupts = new Set<number>();
  /** A triple fault (or an instruction the core cannot run) stopped the vCPU: RUN reports STATECHANGE again. */
  stopped = false;

  constructor(
    readonly vm: VmObject,
    readonly id: number,
    user: UserMemory,
  ) {
    this.core = new Vcpu(vm.machine, id);
    this.shared = new SharedPages(user);
  }
}

export type HaxmObject = SystemObject | VmObject | VcpuObject;
