// What KVM_RUN does in kernel between guest instructions when the VM has KVM's in-kernel devices:
// port I/O and MMIO to the 8259s, the PIT and speaker port, the IOAPIC and local APIC, ioeventfds
// and coalesced zones never reach the monitor; interrupts from the 8259 (through LVT0) and the
// local APIC are injected when the guest can take them; HLT waits in kernel for an interrupt; the
// PIT raises IRQ0 on the VM's virtual clock. Exits the kernel does not absorb are returned.

import { ExitReason, type IoExit, type MmioExit, type VmExit } from '../index.js';
import { PAGE_SIZE } from '../driver.js';
import { APIC_BASE_ENABLE } from './devices/lapic.js';
import type { VcpuObject, VmObject } from './objects.js';

const MP_STATE_RUNNABLE = 0;
const MP_STATE_HALTED = 3;
/** The coalesced-MMIO ring: page 2 of the vCPU mapping (KVM_COALESCED_MMIO_PAGE_OFFSET). */
const RING_OFFSET = 2 * PAGE_SIZE;
const RING_ENTRY = 24;
/** KVM_COALESCED_MMIO_MAX. */
const RING_MAX = Math.floor((PAGE_SIZE - 8) / RING_ENTRY);
/** Halts slept through in one KVM_RUN before giving up (a guest waiting on nothing KVM models). */
const MAX_HALT_WAKES = 1_000_000;

const le = (b: Uint8Array): bigint => b.reduceRight((v, x) => (v << 8n) | BigInt(x), 0n);

/** What ended a run in kernel, for the front-end's report (and the replay's divergence report). */
export interface KernelEvents {
  /** IRQ0 edges the PIT raised during the run. */
  pitTicks: number;
  /** Vectors injected during the run, in order (the 8259's and the local APIC's). */
  injected: number[];
  /** Nanoseconds of virtual time slept in HLT. */
  haltedNs: bigint;
  /** A write to a coalesced zone found the ring full and went to the monitor as an exit. */
  ringFull?: boolean;
  /** The run spent its instruction budget (KVM_EXIT_INTR): how many instructions it ran. */
  budgetSpent?: number;
  /** The guest read the PIT's counters or port 0x61, whose values follow the clock. */
  clockReads: number;
  /** The core stopped on something it cannot execute. */
  internalError?: string;
}

export class InKernel {
  /** What the kernel did during the last KVM_RUN. */
  events: KernelEvents = { pitTicks: 0, injected: [], haltedNs: 0n, clockReads: 0 };

  constructor(private readonly vcpu: VcpuObject) {}

  private get vm(): VmObject {
    return this.vcpu.vm;
  }

  private apicHwEnabled(): boolean {
    return (this.vcpu.core.msrs.apicBase & APIC_BASE_ENABLE) !== 0n;
  }

  /** The vector the vCPU would take now: the local APIC's, else the 8259's through LVT0 (kvm_cpu_has_interrupt). */
  private pendingInterrupt(): 'apic' | 'pic' | undefined {
    const chip = this.vm.irqchip;
    const lapic = this.vcpu.lapic;
    if (!chip || !lapic) return undefined;
    if (this.apicHwEnabled() && lapic.pending() >= 0) return 'apic';
    if (chip.pic.output && lapic.acceptsPicIntr(this.apicHwEnabled()) && this.vcpu === this.vm.vcpus.values().next().value) return 'pic';
    return undefined;
  }

  /** Injects the pending interrupt if the core can take it now; true when one is still waiting. */
  private inject(): boolean {
    const source = this.pendingInterrupt();
    if (!source) return false;
    const core = this.vcpu.core;
    if (!core.readyForInterruptInjection) return true;
    let vector: number;
    if (source === 'apic') {
      vector = this.vcpu.lapic!.pending();
      this.vcpu.lapic!.ack(vector);
    } else vector = this.vm.irqchip!.pic.ack();
    core.queueInterrupt(vector);
    // kvm_queue_interrupt: interrupt.nr keeps the last vector after delivery (KVM_GET_VCPU_EVENTS shows it).
    this.vcpu.events.interruptNr = vector;
    this.events.injected.push(vector);
    this.vcpu.mpState = MP_STATE_RUNNABLE;
    return false;
  }

  private pitTick(): void {
    this.events.pitTicks++;
    if (this.vm.pit!.tick()) pitEdge(this.vm);
  }

  /** Due PIT edges up to now. */
  private catchUpPit(): void {
    const pit = this.vm.pit;
    while (pit?.nextTick !== undefined && this.vm.clock.now() >= pit.nextTick) this.pitTick();
  }

  /**
   * kvm_vcpu_halt: sleeps (in virtual time) until an interrupt the guest can take arrives; false
   * when none ever will (interrupts off, or nothing running to raise one): the vCPU stays halted.
   */
  private halt(): boolean {
    this.vcpu.mpState = MP_STATE_HALTED;
    const core = this.vcpu.core;
    for (let k = 0; k < MAX_HALT_WAKES; k++) {
      if (!core.interruptsEnabled) return false;
      if (this.pendingInterrupt()) return true;
      const pit = this.vm.pit;
      if (pit?.nextTick === undefined) return false;
      const skip = pit.nextTick - this.vm.clock.now();
      if (skip > 0n) {
        // The clock and the TSC run on while the vCPU sleeps.
        this.vm.advanceTime(skip);
        this.events.haltedNs += skip;
      }
      this.catchUpPit();
    }
    return false;
  }

  /** Runs the core, absorbing what KVM handles in kernel; returns the first exit for the monitor. */
  run(requestInterruptWindow: boolean, budget: number | undefined, delivery: 'window' | 'entry' = 'window'): VmExit {
    const core = this.vcpu.core;
    const start = core.instructionsRetired;
    this.events = { pitTicks: 0, injected: [], haltedNs: 0n, clockReads: 0 };
    const first = this.vcpu === this.vm.vcpus.values().next().value;
    if (this.vcpu.mpState === MP_STATE_HALTED && this.vm.irqchip) {
      this.catchUpPit();
      if (!this.halt()) return { reason: ExitReason.EXTERNAL_INTERRUPT };
    }
    for (;;) {
      if (first) this.catchUpPit();
      const waiting = this.inject();
      let max = budget === undefined ? undefined : budget - (core.instructionsRetired - start);
      if (max !== undefined && max <= 0) {
        this.events.budgetSpent = core.instructionsRetired - start;
        return { reason: ExitReason.PREEMPTION_TIMER };
      }
      let forTick = false;
      const tick = first ? this.vm.pit?.nextTick : undefined;
      if (tick !== undefined) {
        const n = this.vm.clock.instructionsUntil(tick);
        if (max === undefined || n < max) {
          max = n;
          forTick = true;
        }
      }
      const exit = core.run({ requestInterruptWindow: requestInterruptWindow || (waiting && delivery === 'window'), ...(max === undefined ? {} : { maxInstructions: max }) });
      switch (exit.reason) {
        case ExitReason.PREEMPTION_TIMER:
          if (forTick) continue;
          this.events.budgetSpent = core.instructionsRetired - start;
          return exit;
        case ExitReason.INTERRUPT_WINDOW:
          if (requestInterruptWindow) return exit;
          continue;
        case ExitReason.IO_INSTRUCTION:
          if (this.pio(exit)) continue;
          return exit;
        case ExitReason.EPT_MISCONFIG:
          if (this.mmio(exit)) continue;
          return exit;
        case ExitReason.INTERNAL_ERROR:
          this.events.internalError = exit.message;
          return exit;
        case ExitReason.HLT:
          if (!this.vm.irqchip) return exit;
          if (this.halt()) continue;
          // Asleep for good: KVM would block until a signal; the run ends as a signal ends it.
          return { reason: ExitReason.EXTERNAL_INTERRUPT };
        default:
          return exit;
      }
    }
  }

  /** An ioeventfd the write matches (ioeventfd_in_range). */
  private ioeventfd(pio: boolean, addr: number, data: Uint8Array): boolean {
    // Every port write asks: without ioeventfds, no BigInts.
    if (this.vm.ioeventfds.length === 0) return false;
    const value = le(data);
    const a = BigInt(addr);
    const e = this.vm.ioeventfds.find((f) => f.pio === pio && f.addr === a && (f.len === 0 || f.len === data.length) && (f.datamatch === undefined || BigInt.asUintN(8 * data.length, f.datamatch) === value));
    if (!e) return false;
    e.signalled++;
    return true;
  }

  /** coalesced_mmio_write: into the ring when a zone covers the write and the ring has room. */
  private coalesce(pio: boolean, addr: number, data: Uint8Array): boolean {
    if (this.vm.coalesced.length === 0) return false;
    const a = BigInt(addr);
    if (!this.vm.coalesced.some((z) => z.pio === pio && a >= z.addr && a + BigInt(data.length) <= z.addr + BigInt(z.size))) return false;
    const page = this.vcpu.shared;
    const head = new DataView(page.read(RING_OFFSET, 8).buffer);
    const first = head.getUint32(0, true);
    const last = head.getUint32(4, true);
    if (last >= RING_MAX || (last + 1) % RING_MAX === first) {
      this.events.ringFull = true;
      return false;
    }
    const entry = new Uint8Array(RING_ENTRY);
    const v = new DataView(entry.buffer);
    v.setBigUint64(0, a, true);
    v.setUint32(8, data.length, true);
    v.setUint32(12, pio ? 1 : 0, true);
    entry.set(data.subarray(0, 8), 16);
    page.write(RING_OFFSET + 8 + last * RING_ENTRY, entry);
    const next = new Uint8Array(4);
    new DataView(next.buffer).setUint32(0, (last + 1) % RING_MAX, true);
    page.write(RING_OFFSET + 4, next);
    return true;
  }

  /** Port I/O on KVM's PIO bus; true when the kernel handled it. */
  private pio(exit: IoExit): boolean {
    const vm = this.vm;
    const port = exit.port;
    if (exit.direction === 'out') {
      // OUTS delivers one element per exit; a plain OUT one element of `size` bytes.
      const data = exit.data.length === exit.size ? exit.data : exit.data.subarray(0, exit.size);
      if (this.ioeventfd(true, port, data) || this.coalesce(true, port, data)) return true;
    }
    const pic = vm.irqchip?.pic;
    const pit = vm.pit;
    const dev = pic?.handles(port) ? pic : pit?.handles(port) ? pit : undefined;
    // The 8254 and the ELCR take byte accesses only; anything else goes to the monitor.
    if (!dev || exit.size !== 1) return false;
    if (exit.direction === 'out') {
      dev.write(port, exit.data[0]);
      return true;
    }
    const data = new Uint8Array(exit.count);
    for (let i = 0; i < exit.count; i++) data[i] = dev.read(port);
    if (dev === pit && port !== 0x43) this.events.clockReads += exit.count;
    this.vcpu.core.completeIo(data);
    return true;
  }

  /** MMIO on KVM's MMIO bus: the local APIC page, the IOAPIC, ioeventfds, coalesced zones. */
  private mmio(exit: MmioExit): boolean {
    const gpa = exit.gpa;
    const lapic = this.vcpu.lapic;
    const base = Number(this.vcpu.core.msrs.apicBase & 0xfffff000n);
    if (lapic && this.apicHwEnabled() && gpa >= base && gpa < base + PAGE_SIZE) {
      const offset = gpa - base;
      if (exit.isWrite) {
        // apic_mmio_write: only aligned 32-bit writes do anything.
        if (exit.size === 4 && (offset & 0xf) === 0) lapic.write(offset, Number(le(exit.data.subarray(0, 4))));
      } else {
        const v = offset <= 0x3f0 ? lapic.read(offset & ~3) >>> ((offset & 3) * 8) : 0;
        const out = new Uint8Array(exit.size);
        for (let i = 0; i < exit.size; i++) out[i] = i < 4 ? (v >>> (8 * i)) & 0xff : 0;
        this.vcpu.core.completeMmio(out);
      }
      return true;
    }
    const ioapic = this.vm.irqchip?.ioapic;
    if (ioapic?.handles(gpa)) {
      if (exit.isWrite) ioapic.write(gpa, Number(le(exit.data.subarray(0, 4))));
      else {
        const v = ioapic.read(gpa);
        const out = new Uint8Array(exit.size);
        for (let i = 0; i < exit.size; i++) out[i] = i < 4 ? (v >>> (8 * i)) & 0xff : 0;
        this.vcpu.core.completeMmio(out);
      }
      return true;
    }
    if (exit.isWrite) {
      const data = exit.data.length === exit.size ? exit.data : exit.data.subarray(0, exit.size);
      if (this.ioeventfd(false, gpa, data) || this.coalesce(false, gpa, data)) return true;
    }
    return false;
  }
}

/** The PIT's IRQ0 edge, on the PIT's own IRQ source (kvm_set_irq level 1 then 0). */
export function pitEdge(vm: VmObject): void {
  vm.irqchip?.setIrq(0, 1);
  vm.irqchip?.setIrq(0, 0);
}

/** What the in-kernel devices did in the vCPU's last run and would do next, for a replay's divergence report. */
export function explainRun(vcpu: VcpuObject, delivery: 'window' | 'entry' = 'window'): string | undefined {
  const vm = vcpu.vm;
  const chip = vm.irqchip;
  const ev = vcpu.kernel.events;
  if (ev.internalError !== undefined) return `the emulated core stopped: ${ev.internalError}`;
  if (ev.budgetSpent !== undefined) return `the replay stopped the run after ${ev.budgetSpent} instructions without the exit KVM reported (a guest waiting on something KVM's host-time devices or the monitor's unrecorded actions provided)`;
  if (ev.ringFull) return 'the coalesced MMIO ring was full, so a write to a coalesced zone exited: the monitor drains the ring between runs by moving ring.first in the page it mapped (QEMU does on every exit), a write the trace does not record';
  if (!chip) return undefined;
  const pic = chip.pic.chips[0];
  const ms = (ns: bigint) => (Number(ns) / 1e6).toFixed(3);
  const parts: string[] = [];
  const pit = vm.pit;
  const hw = (vcpu.core.msrs.apicBase & APIC_BASE_ENABLE) !== 0n;
  const irq0Open = (pic.imr & 1) === 0 && (vcpu.lapic?.acceptsPicIntr(hw) ?? false);
  if (pit?.nextTick !== undefined && irq0Open) {
    const c = pit.channels[0];
    parts.push(`a PIT interrupt (IRQ0, vector 0x${(pic.irq_base & 0xff).toString(16)}) that KVM injected from its in-kernel PIT and 8259 at a host-time instant the trace does not pin: channel 0 (mode ${c.mode}, count ${c.count}) fires every ${ms((BigInt(c.count) * 1_000_000_000n) / 1193182n)} ms of host time`);
    if (pic.irr & 1) {
      const ifOn = vcpu.core.interruptsEnabled;
      parts.push(
        delivery === 'entry' && ifOn
          ? 'IRQ0 was pending in the 8259 and the guest ran with interrupts enabled, but the replay injects only at VM entries (as the recording host\'s KVM, kvm_pvm, does) and this run had none before its exit; KVM, whose run had in-kernel exits the trace does not record, took the interrupt within it'
          : `IRQ0 was pending in the 8259${ifOn ? '' : ' while the guest had interrupts disabled'}`,
      );
    } else {
      parts.push(`the replay's clock, following the recorded host time, put the next tick ${ms(pit.nextTick - vm.clock.now())} ms after this exit`);
    }
  } else if (ev.clockReads > 0) {
    parts.push(`the PIT's counters and port 0x61, which the guest read ${ev.clockReads} time(s) in this run: KVM's follow the host's clock, the replay's the recorded host time at the start of the run plus the instructions since`);
  } else if (chip.pic.output || (vcpu.lapic?.pending() ?? -1) >= 0) {
    parts.push('an interrupt from KVM\'s in-kernel irqchip that was pending in this run, delivered at a host-time instant the trace does not pin');
  } else {
    return 'nothing KVM\'s in-kernel devices do on the host\'s clock: no interrupt could reach the guest in this run (IRQ0 masked or the PIT idle, nothing pending) and the guest read no PIT counter';
  }
  if (ev.clockReads > 0 && parts.length > 0 && !parts[0].startsWith('the PIT\'s counters')) parts.push(`the guest also read the PIT's counters or port 0x61 ${ev.clockReads} time(s), values that follow the clock`);
  parts.push(`in this run the replay injected ${ev.injected.length === 0 ? 'no interrupt' : `vectors ${ev.injected.map((v) => `0x${v.toString(16)}`).join(', ')}`} and the PIT ticked ${ev.pitTicks} time(s)`);
  return parts.join('; ');
}

/** kvm_get_time_scale: pvclock's multiplier and shift for converting `baseHz` ticks to `scaledHz`. */
export function timeScale(scaledHz: bigint, baseHz: bigint): { shift: number; mul: number } {
  let shift = 0;
  let tps64 = baseHz;
  let scaled64 = scaledHz;
  const HIGH = 0xffffffff00000000n;
  while (tps64 > scaled64 * 2n || (tps64 & HIGH) !== 0n) {
    tps64 >>= 1n;
    shift--;
  }
  let tps32 = tps64 & 0xffffffffn;
  while (tps32 <= scaled64 || (scaled64 & HIGH) !== 0n) {
    if ((scaled64 & HIGH) !== 0n || (tps32 & 0x80000000n) !== 0n) scaled64 >>= 1n;
    else tps32 = (tps32 << 1n) & 0xffffffffn;
    shift++;
  }
  return { shift, mul: Number((scaled64 << 32n) / tps32) };
}
