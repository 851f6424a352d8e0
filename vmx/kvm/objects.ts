// The objects behind the front-end's fds: /dev/kvm, VMs, vCPUs (each with its kvm_run pages) and
// devices, holding what KVM keeps per object beyond the core's state.

import { Machine, TSC_PER_INSTRUCTION, Vcpu } from '../index.js';
import { PAGE_SIZE } from '../driver.js';
import { Lapic } from './devices/lapic.js';
import type { Pit } from './devices/pit.js';
import { Irqchip, VirtualClock, type CoalescedZone, type IoEventFd } from './irqchip.js';
import { InKernel } from './in-kernel.js';
import { KvmMsrs } from './msrs.js';
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
  /** KVM_ENABLE_CAP on the VM: the capabilities enabled, with their args[0]. */
  readonly enabledCaps = new Map<number, bigint>();
  /** KVM_CAP_MAX_VCPU_ID once enabled (0: the default, KVM_MAX_VCPU_IDS). */
  maxVcpuIds = 0;
  identityMapAddr: bigint | undefined;
  /** KVM_SET_BOOT_CPU_ID (0 by default). */
  bootCpuId = 0;
  tssAddr: number | undefined;
  /** KVM_CREATE_IRQCHIP. */
  irqchip: Irqchip | undefined;
  /** KVM_CREATE_PIT2. */
  pit: Pit | undefined;
  readonly ioeventfds: IoEventFd[] = [];
  readonly coalesced: CoalescedZone[] = [];
  /** KVM_X86_SET_MSR_FILTER: default action and ranges, stored (the core does not consult them). */
  msrFilter: { flags: number; ranges: { flags: number; base: number; nmsrs: number; bitmap: Uint8Array }[] } | undefined;
  /** KVM_SET_CLOCK: the kvmclock value at `at` on the virtual clock. */
  kvmclock = { value: 0n, at: 0n };
  readonly clock = new VirtualClock(() => this.vcpus.values().next().value?.core.instructionsRetired ?? 0, TSC_PER_INSTRUCTION);

  /** Time passes outside the guest's instructions: the clock and every vCPU's TSC move on together. */
  advanceTime(ns: bigint): void {
    if (ns <= 0n) return;
    this.clock.advance(ns);
    for (const v of this.vcpus.values()) {
      const khz = BigInt(v.tscKhz ?? this.clock.tscKhz);
      v.core.msrs.write(0x10, v.core.rdtsc() + (ns * khz) / 1_000_000n, true);
    }
  }
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
  /** Over `bytes`, for fields read and written in place. */
  readonly view = new DataView(this.bytes.buffer);
  /** Address of the first mapping at offset 0, where accesses are logged. */
  mappedAt: number | undefined;

  constructor(private readonly user: UserMemory) {}

  read(offset: number, length: number): Uint8Array {
    this.touched(offset, length, false);
    return this.bytes.slice(offset, offset + length);
  }

  write(offset: number, data: Uint8Array): void {
    this.touched(offset, data.length, true);
    this.bytes.set(data, offset);
  }

  /** Logs an access made to `bytes` or `view` directly. */
  touched(offset: number, length: number, write: boolean): void {
    this.user.logShared(this.at(offset), length, write);
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
  /** KVM's own MSRs (machine check, paravirtual), ahead of the core's. */
  readonly msrs: KvmMsrs;
  /** KVM_RUN's in-kernel work: device I/O, interrupt injection, HLT, the PIT's clock. */
  readonly kernel: InKernel;
  /** The in-kernel local APIC, when the VM has an irqchip. */
  lapic: Lapic | undefined;
  /** KVM_ENABLE_CAP on the vCPU. */
  readonly enabledCaps = new Map<number, bigint>();
  /** KVM_GET/SET_MP_STATE (KVM_MP_STATE_RUNNABLE 0, HALTED 3). */
  mpState = 0;
  /** KVM_SET_TSC_KHZ; undefined: the VM clock's default. */
  tscKhz: number | undefined;
  /** KVM_X86_SETUP_MCE. */
  mcgCap = 0n;
  /** XCR0 (KVM_SET_XCRS), x87 only at reset. */
  xcr0 = 1n;
  /** The XSAVE area as KVM_SET_XSAVE gave it (4096 bytes); undefined until set. */
  xsave: Uint8Array | undefined;
  /** KVM_SET_VCPU_EVENTS state the core does not hold (exception and NMI state, SMM), as set. */
  events = { exceptionNr: 0, exceptionInjected: 0, exceptionPending: 0, hasErrorCode: 0, errorCode: 0, payload: 0n, hasPayload: 0, interruptNr: 0, interruptSoft: 0, nmiInjected: 0, nmiPending: 0, nmiMasked: 0, sipiVector: 0, smi: { smm: 0, pending: 0, smm_inside_nmi: 0, latched_init: 0 }, tripleFault: 0 };
  tprAccessReporting = 0;
  vapicAddr = 0n;
  /** KVM_SET_GUEST_DEBUG control flags. */
  guestDebug = 0;

  constructor(
    readonly vm: VmObject,
    readonly id: number,
    user: UserMemory,
  ) {
    this.core = new Vcpu(vm.machine);
    // The BSP bit of IA32_APIC_BASE follows KVM_SET_BOOT_CPU_ID.
    if (id === vm.bootCpuId) this.core.msrs.apicBase |= 1n << 8n;
    else this.core.msrs.apicBase &= ~(1n << 8n);
    this.shared = new SharedPages(user);
    this.msrs = new KvmMsrs(this);
    this.kernel = new InKernel(this);
    this.core.cpu.bus = this.msrs.wrap(this.core.cpu.bus);
    if (vm.irqchip) this.lapic = new Lapic(id, (vector) => vm.irqchip?.ioapic.eoi(vector));
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
