// KVM_RUN: complete what the last exit left pending, check the state VM entry would refuse, run the
// core, and describe the exit in kvm_run the way KVM does, field by field, so that exact traces show
// the bytes KVM writes (exit_reason, the union member it fills, post_kvm_run_save's fields).

import { ExitReason, type KvmSregs, type VmExit } from '../index.js';
import type { Decoded } from '../../schemas/codec.js';
import type { Call, Handler, Structs } from './call.js';
import { Errno, fail } from './errors.js';
import { PIO_DATA_OFFSET, type SharedPages, type VcpuObject } from './objects.js';
import { PageFields } from './page-fields.js';

/** VMX exit reason of a failed VM entry for invalid guest state (bit 31: entry failure). */
const ENTRY_FAILURE_INVALID_STATE = 0x80000021n;

/** kvm_run by field path, through the measured layout. */
export class RunPage {
  private readonly fields: PageFields;
  readonly exits: Map<string, number>;

  constructor(readonly structs: Structs) {
    this.fields = new PageFields(structs, 'kvm_run');
    this.exits = new Map(structs.set.runPage!.exits.map((e) => [e.name, e.value]));
  }

  get(page: SharedPages, path: string): Decoded {
    return this.fields.get(page, 0, path);
  }

  /** Writes a field; `length` limits a byte array to what KVM copies. */
  put(page: SharedPages, path: string, value: Decoded, length?: number): void {
    this.fields.put(page, 0, path, value, length);
  }

  offsetOf(path: string): number {
    return this.fields.field(path).offset;
  }

  exit(page: SharedPages, name: string): void {
    const value = this.exits.get(name);
    if (value === undefined) throw new Error(`no exit ${name}`);
    this.put(page, 'exit_reason', value);
  }
}

/** VM-entry checks on guest state that hardware makes and kvm_is_valid_sregs does not. */
function entryRefused(s: KvmSregs): boolean {
  const lma = (s.efer & (1n << 10n)) !== 0n;
  // In IA-32e mode a 64-bit CS must not also be a 32-bit one.
  if (lma && s.cs.l && s.cs.db) return true;
  // TR must be a present busy TSS (a 16-bit one only outside IA-32e mode).
  const tr = s.tr;
  return Boolean(tr.unusable || !tr.present || tr.s || !(tr.type === 11 || (tr.type === 3 && !lma)));
}

/** post_kvm_run_save: the interrupt and APIC state every return from KVM_RUN reports. */
function postRunSave(run: RunPage, vcpu: VcpuObject): void {
  const core = vcpu.core;
  vcpu.cr8 = core.cr8;
  run.put(vcpu.shared, 'if_flag', core.interruptsEnabled ? 1 : 0);
  // kvm_get_cr8: the local APIC's TPR when it is in kernel.
  run.put(vcpu.shared, 'cr8', vcpu.lapic ? BigInt((vcpu.lapic.get(0x80) >> 4) & 0xf) : core.cr8);
  run.put(vcpu.shared, 'apic_base', core.apicBase);
  // With the 8259 in kernel KVM always reports ready (pic_in_kernel).
  run.put(vcpu.shared, 'ready_for_interrupt_injection', vcpu.vm.irqchip || core.readyForInterruptInjection ? 1 : 0);
}

/**
 * Hands the monitor's answer to the instruction the last exit stopped at. An IN retires at once, as
 * KVM's complete_userspace_io does even when immediate_exit then stops the run; an MMIO read is
 * consumed when the instruction restarts.
 */
function complete(run: RunPage, vcpu: VcpuObject): void {
  const p = vcpu.pending;
  vcpu.pending = undefined;
  if (p?.kind === 'in') {
    vcpu.core.completeIo(vcpu.shared.read(PIO_DATA_OFFSET, p.length));
    retire(vcpu);
  }
  if (p?.kind === 'mmio-read') vcpu.core.completeMmio(vcpu.shared.read(run.offsetOf('mmio.data'), p.length));
}

/** Describes `exit` in kvm_run; true when KVM_RUN returns -EINTR. */
function describe(run: RunPage, vcpu: VcpuObject, exit: VmExit, io: { IN: number; OUT: number }): boolean {
  const page = vcpu.shared;
  switch (exit.reason) {
    case ExitReason.IO_INSTRUCTION: {
      run.exit(page, 'KVM_EXIT_IO');
      run.put(page, 'io.direction', exit.direction === 'in' ? io.IN : io.OUT);
      run.put(page, 'io.size', exit.size);
      run.put(page, 'io.port', exit.port);
      run.put(page, 'io.count', exit.count);
      run.put(page, 'io.data_offset', BigInt(PIO_DATA_OFFSET));
      if (exit.direction === 'in') {
        vcpu.pending = { kind: 'in', length: exit.size * exit.count };
      } else {
        page.write(PIO_DATA_OFFSET, exit.data);
        // KVM's fast path retires a plain OUT before exiting (RIP past it); string OUTs stay pending.
        if (!exit.string) retire(vcpu);
      }
      return false;
    }
    case ExitReason.EPT_MISCONFIG:
      run.exit(page, 'KVM_EXIT_MMIO');
      run.put(page, 'mmio.phys_addr', BigInt(exit.gpa));
      if (exit.isWrite) run.put(page, 'mmio.data', exit.data, Math.min(8, exit.size));
      run.put(page, 'mmio.len', exit.size);
      run.put(page, 'mmio.is_write', exit.isWrite ? 1 : 0);
      if (!exit.isWrite) vcpu.pending = { kind: 'mmio-read', length: exit.size };
      return false;
    case ExitReason.HLT:
      run.exit(page, 'KVM_EXIT_HLT');
      return false;
    case ExitReason.INTERRUPT_WINDOW:
      run.exit(page, 'KVM_EXIT_IRQ_WINDOW_OPEN');
      return false;
    case ExitReason.TRIPLE_FAULT:
      run.exit(page, 'KVM_EXIT_SHUTDOWN');
      return false;
    case ExitReason.INTERNAL_ERROR:
      run.exit(page, 'KVM_EXIT_INTERNAL_ERROR');
      run.put(page, 'internal.suberror', run.structs.set.constants.KVM_INTERNAL_ERROR_EMULATION);
      run.put(page, 'internal.ndata', 0);
      return false;
    case ExitReason.EPT_VIOLATION:
      // Slots made through the KVM ABI are RWX, so the core should never report this.
      run.exit(page, 'KVM_EXIT_INTERNAL_ERROR');
      run.put(page, 'internal.suberror', run.structs.set.constants.KVM_INTERNAL_ERROR_UNEXPECTED_EXIT_REASON);
      run.put(page, 'internal.ndata', 1);
      run.put(page, 'internal.data[0]', BigInt(exit.reason));
      return false;
    case ExitReason.EXTERNAL_INTERRUPT:
    case ExitReason.PREEMPTION_TIMER:
      run.exit(page, 'KVM_EXIT_INTR');
      return true;
  }
}

/** Finishes the I/O instruction the core holds (its data given), running nothing after it. */
function retire(vcpu: VcpuObject): void {
  const after = vcpu.core.run({ maxInstructions: 0 });
  if (after.reason !== ExitReason.PREEMPTION_TIMER) throw new Error(`retiring an OUT gave exit ${after.reason}`);
}

/** Without an in-kernel APIC, KVM takes CR8 from kvm_run.cr8 on every KVM_RUN (its "re-sync apic's tpr"). */
function syncCr8(run: RunPage, vcpu: VcpuObject): void {
  // With the local APIC in kernel, CR8 is its TPR and kvm_run.cr8 is not an input.
  if (vcpu.lapic) return;
  const cr8 = run.get(vcpu.shared, 'cr8') as bigint;
  if (cr8 === vcpu.cr8) return;
  if (cr8 > 15n) fail(Errno.EINVAL, `kvm_run.cr8 0x${cr8.toString(16)} has reserved bits`);
  vcpu.core.setSregs({ ...vcpu.core.getSregs(), cr8 });
}

/** kvm_arch_vcpu_ioctl_run, in its order; every way out reports post_kvm_run_save's fields. */
function kvmRun(call: Call): number {
  const vcpu = call.object as VcpuObject;
  const run = call.kvm.runPage;
  const page = vcpu.shared;
  const immediateExit = run.get(page, 'immediate_exit') !== 0;
  run.put(page, 'flags', 0);
  try {
    // No KVM_CAP_SYNC_REGS: any request for synced registers is refused as KVM refuses unknown bits.
    if (run.get(page, 'kvm_valid_regs') !== 0n || run.get(page, 'kvm_dirty_regs') !== 0n) fail(Errno.EINVAL, 'kvm_valid_regs/kvm_dirty_regs need KVM_CAP_SYNC_REGS');
    syncCr8(run, vcpu);
    complete(run, vcpu);
    // After completing the last exit, before running (the kernel measured here leaves exit_reason as it was).
    if (immediateExit) fail(Errno.EINTR, 'immediate_exit');
    // Only state loaded from outside can be one VM entry refuses; the guest's own changes fault inside it.
    if (vcpu.stateLoaded && entryRefused(vcpu.core.getSregs())) {
      run.exit(page, 'KVM_EXIT_FAIL_ENTRY');
      run.put(page, 'fail_entry.hardware_entry_failure_reason', ENTRY_FAILURE_INVALID_STATE);
      run.put(page, 'fail_entry.cpu', 0);
      return 0;
    }
    vcpu.stateLoaded = false;
    const requestInterruptWindow = run.get(page, 'request_interrupt_window') !== 0;
    const budget = call.kvm.runBudget(vcpu.vm.clock);
    vcpu.msrs.updatePvclock();
    const exit = vcpu.kernel.run(requestInterruptWindow, budget, call.kvm.interruptDelivery);
    const constants = call.structs.set.constants;
    if (describe(run, vcpu, exit, { IN: constants.KVM_EXIT_IO_IN, OUT: constants.KVM_EXIT_IO_OUT })) fail(Errno.EINTR, 'the run was interrupted');
    return 0;
  } finally {
    postRunSave(run, vcpu);
  }
}

export const runHandlers: Record<string, Handler> = { KVM_RUN: kvmRun };
