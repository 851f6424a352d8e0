// What KVM keeps in kernel for a VM beyond the core: the irqchip (8259 pair, IOAPIC, GSI routing;
// the local APICs live with their vCPUs), the PIT, ioeventfds, coalesced MMIO/PIO zones and the
// VM's virtual clock. The device models are in devices/; this file wires them as kvm_set_irq does.

import { Ioapic, IOAPIC_PINS } from './devices/ioapic.js';
import type { Lapic } from './devices/lapic.js';
import { PicPair } from './devices/pic.js';
import type { Pit } from './devices/pit.js';

export const KVM_IRQ_ROUTING_IRQCHIP = 1;
export const KVM_IRQ_ROUTING_MSI = 2;
export const KVM_IRQCHIP_PIC_MASTER = 0;
export const KVM_IRQCHIP_PIC_SLAVE = 1;
export const KVM_IRQCHIP_IOAPIC = 2;

export interface Route {
  gsi: number;
  type: number;
  /** KVM_IRQ_ROUTING_IRQCHIP */
  irqchip?: number;
  pin?: number;
  /** KVM_IRQ_ROUTING_MSI */
  msi?: { address_lo: number; address_hi: number; data: number };
}

/** kvm_setup_default_irq_routing: GSI 0-15 to the 8259s and the IOAPIC, 16-23 to the IOAPIC. */
export function defaultRouting(): Route[] {
  const out: Route[] = [];
  for (let i = 0; i < IOAPIC_PINS; i++) {
    if (i < 16) out.push({ gsi: i, type: KVM_IRQ_ROUTING_IRQCHIP, irqchip: i < 8 ? KVM_IRQCHIP_PIC_MASTER : KVM_IRQCHIP_PIC_SLAVE, pin: i % 8 });
    out.push({ gsi: i, type: KVM_IRQ_ROUTING_IRQCHIP, irqchip: KVM_IRQCHIP_IOAPIC, pin: i });
  }
  return out;
}

export class Irqchip {
  readonly pic = new PicPair();
  readonly ioapic: Ioapic;
  routing: Route[] = defaultRouting();

  constructor(readonly lapics: () => Lapic[]) {
    this.ioapic = new Ioapic((vector, level) => this.toApics(vector, level));
  }

  /** Fixed delivery to the APICs (destination modes are not decoded: every vCPU's APIC is a target). */
  private toApics(vector: number, level: boolean): number {
    let n = 0;
    for (const l of this.lapics()) n += l.accept(vector, level);
    return n;
  }

  /** kvm_set_irq: every route of the GSI; -1 when none delivered, else the sum of the others. */
  setIrq(gsi: number, level: number): number {
    let ret = -1;
    for (const e of this.routing) {
      if (e.gsi !== gsi) continue;
      let r: number;
      if (e.type === KVM_IRQ_ROUTING_IRQCHIP) {
        if (e.irqchip === KVM_IRQCHIP_IOAPIC) r = this.ioapic.setIrq(e.pin!, level);
        else r = this.pic.setIrq(e.pin! + (e.irqchip === KVM_IRQCHIP_PIC_SLAVE ? 8 : 0), level);
      } else if (e.type === KVM_IRQ_ROUTING_MSI && e.msi) {
        r = level ? this.toApics(e.msi.data & 0xff, false) : -1;
      } else continue;
      if (r < 0) continue;
      ret = r + (ret < 0 ? 0 : ret);
    }
    return ret;
  }
}

/** A KVM_IOEVENTFD registration. */
export interface IoEventFd {
  addr: bigint;
  len: number;
  pio: boolean;
  datamatch?: bigint;
  fd: number;
  /** Guest writes that matched it (the eventfd is the monitor's; the replay has no such fd). */
  signalled: number;
}

/** A KVM_REGISTER_COALESCED_MMIO zone. */
export interface CoalescedZone {
  addr: bigint;
  size: number;
  pio: boolean;
}

/**
 * The VM's clock for in-kernel timers, kvmclock and the TSC: the first vCPU's instructions at its
 * TSC rate, plus time advanced from outside (HLT sleeping until the next timer, or the recorded
 * host time a replay gives with `EmulatedKvm.setHostTime`).
 */
export class VirtualClock {
  private khz = 1_000_000;
  private baseNs = 0n;
  private baseInstructions = 0;
  constructor(private readonly instructions: () => number, private readonly tscPerInstruction: bigint) {}

  /** KVM_SET_TSC_KHZ on the first vCPU; 1 GHz until set. */
  get tscKhz(): number {
    return this.khz;
  }

  set tscKhz(khz: number) {
    this.baseNs = this.now();
    this.baseInstructions = this.instructions();
    this.khz = khz;
  }

  now(): bigint {
    return this.baseNs + (BigInt(this.instructions() - this.baseInstructions) * this.tscPerInstruction * 1_000_000n) / BigInt(this.khz);
  }

  advance(ns: bigint): void {
    this.baseNs += ns;
  }

  /** Instructions the first vCPU retires before `at` (at least 1). */
  instructionsUntil(at: bigint): number {
    const ns = at - this.now();
    if (ns <= 0n) return 1;
    const per = this.tscPerInstruction * 1_000_000n;
    return Math.max(1, Number((ns * BigInt(this.khz) + per - 1n) / per));
  }
}

export type { Pit };
