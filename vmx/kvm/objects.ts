// The objects behind the front-end's fds: /dev/kvm, VMs, vCPUs (each with its kvm_run pages) and
// devices, holding what KVM keeps per object beyond the core's state.

import { Machine, Vcpu } from '../index.js';
import { PAGE_SIZE } from '../driver.js';
import { UserMemory } from './user-memory.js';

export class SystemObject {
  readonly kind = 'system';
}

/** A memory slot as KVM_SET_USER_MEMORY_REGION registered it. */
export interface UserSlot {
  slot: number;
  flags: number;
  gpa: number;
  size: number;
  uaddr: number;
  /** KVM_MEM_LOG_DIRTY_PAGES: the slot's bytes at the last GET_DIRTY_LOG, to find changed pages. */
  lastLogged?: Uint8Array;
}

export class VmObject {
  readonly kind = 'vm';
  readonly machine = new Machine();
  readonly slots = new Map<number, UserSlot>();
  readonly vcpus = new Map<number, VcpuObject>();
  readonly devices: DeviceObject[] = [];
}

/** kvm_run, the PIO data page and the coalesced-MMIO ring page, as x86 KVM maps them. */
export const RUN_PAGES = 3;
/** Where KVM_EXIT_IO data lives in the mapping (KVM_PIO_PAGE_OFFSET * PAGE_SIZE). */
export const PIO_DATA_OFFSET = PAGE_SIZE;

/** What the last exit left for the monitor to complete on the next KVM_RUN. */
export type PendingCompletion = { kind: 'in'; length: number } | { kind: 'mmio-read'; length: number } | undefined;

/** The kernel's shared pages of a vCPU, with where the process mapped them. */
export class SharedPages {
  readonly bytes = new Uint8Array(RUN_PAGES * PAGE_SIZE);
  /** Address of the first mapping at offset 0, where accesses are logged. */
  mappedAt: number | undefined;

  constructor(private readonly user: UserMemory) {}

  read(offset: number, length: number): Uint8Array {
    this.user.logShared(this.at(offset), length, false);
    return this.bytes.slice(offset, offset + length);
  }

  write(offset: number, data: Uint8Array): void {
    this.user.logShared(this.at(offset), data.length, true);
    this.bytes.set(data, offset);
  }

  private at(offset: number): number | undefined {
    return this.mappedAt === undefined ? undefined : this.mappedAt + offset;
  }
}

export class VcpuObject {
  readonly kind = 'vcpu';
  readonly core: Vcpu;
  readonly shared: SharedPages;
  pending: PendingCompletion;
  /** KVM_SET_SREGS (or creation) loaded state the next KVM_RUN must check as VM entry does. */
  stateLoaded = true;
  /** The core's CR8 as of the last KVM_RUN or KVM_SET_SREGS, to see whether kvm_run.cr8 changes it. */
  cr8 = 0n;

  constructor(
    vm: VmObject,
    readonly id: number,
    user: UserMemory,
  ) {
    this.core = new Vcpu(vm.machine);
    this.shared = new SharedPages(user);
  }
}

export class DeviceObject {
  readonly kind = 'device';

  constructor(
    /** The device type by the schema's name (`vfio`). */
    readonly deviceType: string,
  ) {}
}

export type KvmObject = SystemObject | VmObject | VcpuObject | DeviceObject;
