// The KVM ABI over the emulated core, as a Driver: /dev/kvm, VM, vCPU and device fds, and the
// kvm_run mapping. A request is resolved through the schema registry by the kind of object its fd
// reaches, then handed to the handler module for that object kind; unknown requests get the errno
// KVM's dispatcher for that kind gives. Every user-memory access goes through UserMemory's log.

import { SchemaRegistry } from '../../schemas/registry.js';
import { AddressSpace, EmulatedAddresses, PAGE_SIZE, type ExactDriver, type IoctlResult, type UserAccess } from '../driver.js';
import { FdDispatch } from '../fd-dispatch.js';
import { Structs, type Handler } from './call.js';
import { capabilityTable } from './capabilities.js';
import { deviceHandlers } from './device.js';
import { Errno } from './errors.js';
import { RUN_PAGES, SystemObject, VcpuObject, type KvmObject } from './objects.js';
import { RunPage, runHandlers } from './run.js';
import { systemHandlers } from './system.js';
import { vcpuStateHandlers } from './vcpu-state.js';
import { vmHandlers } from './vm.js';
import { vmIrqHandlers } from './vm-irq.js';
import { vcpuKvmHandlers } from './vcpu-kvm.js';
import { explainRun } from './in-kernel.js';
import { UserMemory } from './user-memory.js';
import { TSC_PER_INSTRUCTION } from '../index.js';

const HANDLERS: Record<KvmObject['kind'], Record<string, Handler>> = {
  system: systemHandlers,
  vm: { ...vmHandlers, ...vmIrqHandlers },
  vcpu: { ...vcpuStateHandlers, ...vcpuKvmHandlers, ...runHandlers },
  device: deviceHandlers,
};

/** What KVM answers a request it does not know, by object: kvm_arch_dev_ioctl and kvm_arch_vcpu_ioctl say EINVAL, the VM and device dispatchers ENOTTY. */
const UNKNOWN_REQUEST: Record<KvmObject['kind'], number> = { system: Errno.EINVAL, vm: Errno.ENOTTY, vcpu: Errno.EINVAL, device: Errno.ENOTTY };


export interface EmulatedKvmOptions {
  /** End a KVM_RUN with KVM_EXIT_INTR (-EINTR) after this many instructions, as a signal would. */
  maxInstructionsPerRun?: number;
  registry?: SchemaRegistry;
  /**
   * An interrupt that is pending while the guest has IF=0 is injected: `window`, at the first
   * instruction boundary where IF=1 (VMX/SVM interrupt-window exiting); `entry`, only at the next
   * VM entry with IF=1 (after an exit the kernel handles, a HLT, a timer kick, or KVM_RUN). Default:
   * `window`, or `entry` once a replay drives the clock with recorded host time: the recording
   * machine's kvm_pvm injects at entries, and the trace cannot place a window any better.
   */
  interruptDelivery?: 'window' | 'entry';
}

export class EmulatedKvm implements ExactDriver {
  readonly kind = 'emulator';
  readonly memory: AddressSpace;
  readonly structs: Structs;
  readonly runPage: RunPage;
  /** CHECK_EXTENSION answers by capability number. */
  readonly capabilities: Map<number, number>;
  private readonly user: UserMemory;
  private readonly dispatch: FdDispatch<KvmObject['kind'], KvmObject, Handler>;
  private readonly addresses = new EmulatedAddresses();
  /** A replay gives the recorded host time of each call (setHostTime). */
  private hostTimed = false;
  /** How long the recorded call took on the host, when a replay said. */
  private recordedRunNs = 0n;

  constructor(readonly options: EmulatedKvmOptions = {}) {
    const registry = options.registry ?? SchemaRegistry.default();
    const set = registry.set('kvm-linux');
    this.dispatch = new FdDispatch(registry, 'kvm', HANDLERS, (kind) => ({ ret: -1, errno: UNKNOWN_REQUEST[kind] }));
    this.structs = new Structs(set, 'lp64');
    this.runPage = new RunPage(this.structs);
    this.capabilities = capabilityTable(set);
    // The bytes go with the last reference; addresses are never reused, so stale pointers fault.
    this.memory = new AddressSpace(this.addresses.pages());
    this.user = new UserMemory(this.memory);
    this.memory.onWrite((addr, length) => this.monitorWrote(addr, length));
  }

  /**
   * The instruction budget of a KVM_RUN: the option, or, in a replay, what the VM's clock makes of
   * ten times the recorded run's host time (at least 50 ms): a guest that runs far longer than KVM
   * did without the exit it reported is stopped as a signal would stop it, instead of spinning on.
   */
  runBudget(clock: { tscKhz: number }): number | undefined {
    if (this.options.maxInstructionsPerRun !== undefined || !this.hostTimed) return this.options.maxInstructionsPerRun;
    const ns = this.recordedRunNs * 10n > 50_000_000n ? this.recordedRunNs * 10n : 50_000_000n;
    return Number((ns * BigInt(clock.tscKhz)) / 1_000_000n / TSC_PER_INSTRUCTION);
  }

  /**
   * The host's time now, from outside (a replay gives the recorded time of each call): the VMs'
   * clocks (the in-kernel PIT, kvmclock) and TSCs catch up with it. Without it they run on
   * instructions alone.
   */
  setHostTime(start: bigint, end: bigint): void {
    this.hostTimed = true;
    this.recordedRunNs = end - start;
    for (const object of this.dispatch.fds.values()) if (object.kind === 'vm') object.advanceTime(start - object.clock.now());
  }

  /** How pending interrupts reach a vCPU whose IF was 0 (see EmulatedKvmOptions.interruptDelivery). */
  get interruptDelivery(): 'window' | 'entry' {
    return this.options.interruptDelivery ?? (this.hostTimed ? 'entry' : 'window');
  }

  /** What the in-kernel devices did in the last run of the vCPU behind `fd`, for a divergence report. */
  explainRun(fd: number): string | undefined {
    const object = this.dispatch.fds.get(fd);
    return object instanceof VcpuObject ? explainRun(object, this.interruptDelivery) : undefined;
  }

  lastAccesses(): readonly UserAccess[] {
    return this.user.accesses();
  }

  /** Binds `object` to the lowest free fd (from 3: 0-2 are the process's stdio). */
  install(object: KvmObject): number {
    return this.dispatch.install(object);
  }

  isOpen(fd: number): boolean {
    return this.dispatch.fds.has(fd);
  }

  open(path: string): number {
    this.user.begin();
    return path === '/dev/kvm' ? this.install(new SystemObject()) : -Errno.ENOENT;
  }

  close(fd: number): number {
    this.user.begin();
    return this.dispatch.close(fd);
  }

  ioctl(fd: number, request: number, arg: number | bigint): IoctlResult {
    this.user.begin();
    return this.dispatch.ioctl(fd, request, (handler, object, schema) => handler({ kvm: this, object, schema, arg, user: this.user, structs: this.structs }));
  }

  /** Only a vCPU fd maps (its kvm_run, PIO and coalesced-MMIO pages); past them, fresh zero pages. */
  mmap(fd: number, length: number, offset: number): number {
    this.user.begin();
    const object = this.dispatch.fds.get(fd);
    if (!object) return -Errno.EBADF;
    if (!(object instanceof VcpuObject)) return -Errno.ENODEV;
    if (length <= 0 || offset % PAGE_SIZE !== 0) return -Errno.EINVAL;
    const addr = this.addresses.reserve(length);
    const shared = object.shared;
    const end = RUN_PAGES * PAGE_SIZE;
    const bytes = offset === 0 && length <= end ? shared.bytes.subarray(0, length) : new Uint8Array(length);
    if (offset === 0 && length <= end && shared.mappedAt === undefined) shared.mappedAt = addr;
    this.memory.addMapping({ addr, bytes });
    return addr;
  }

  munmap(addr: number, length: number): number {
    this.user.begin();
    for (const object of this.dispatch.fds.values()) if (object instanceof VcpuObject && object.shared.mappedAt === addr) object.shared.mappedAt = undefined;
    return length > 0 && this.memory.unmap(addr) ? 0 : -Errno.EINVAL;
  }

  /**
   * The monitor wrote its own memory: code the core decoded from guest RAM there is stale, and the
   * dirty log must not count the write (KVM logs only the guest's).
   */
  private monitorWrote(addr: number, length: number): void {
    for (const object of this.dispatch.fds.values()) {
      if (object.kind !== 'vm') continue;
      for (const slot of object.slots.values()) {
        const start = Math.max(addr, slot.uaddr);
        const end = Math.min(addr + length, slot.uaddr + slot.size);
        if (start >= end) continue;
        object.machine.memory.notifyWrite(slot.gpa + start - slot.uaddr, end - start);
        slot.lastLogged?.set(this.memory.view(start, end - start)!, start - slot.uaddr);
      }
    }
  }
}
