// The in-kernel IOAPIC (KVM_CREATE_IRQCHIP), after arch/x86/kvm/ioapic.c: kvm_ioapic_state's
// registers, the IOREGSEL/IOWIN window at base_address, pins with edge/level triggering,
// masking and remote IRR, and the return values KVM_IRQ_LINE_STATUS reports.

export const IOAPIC_PINS = 24;
export const IOAPIC_BASE = 0xfec00000;
const MASKED = 1n << 16n;
const REMOTE_IRR = 1n << 14n;
const LEVEL = 1n << 15n;

export interface IoapicState {
  base_address: bigint;
  ioregsel: number;
  id: number;
  irr: number;
  redirtbl: bigint[];
}

export class Ioapic {
  state: IoapicState = { base_address: BigInt(IOAPIC_BASE), ioregsel: 0, id: 0, irr: 0, redirtbl: Array.from({ length: IOAPIC_PINS }, () => MASKED) };

  constructor(
    /** Delivers `vector` to the local APIC; returns the number of CPUs it reached. */
    private readonly deliver: (vector: number, level: boolean) => number,
  ) {}

  private service(pin: number): number {
    const e = this.state.redirtbl[pin];
    const level = (e & LEVEL) !== 0n;
    if (e & MASKED || (level && e & REMOTE_IRR)) return -1;
    const ret = this.deliver(Number(e & 0xffn), level);
    if (!level) this.state.irr &= ~(1 << pin);
    else if (ret > 0) this.state.redirtbl[pin] = e | REMOTE_IRR;
    return ret;
  }

  /** ioapic_set_irq: 1 (or CPUs reached) delivered, 0 coalesced, -1 masked. */
  setIrq(pin: number, level: number): number {
    const mask = 1 << pin;
    if (!level) {
      this.state.irr &= ~mask;
      return 1;
    }
    const edge = (this.state.redirtbl[pin] & LEVEL) === 0n;
    const old = this.state.irr;
    this.state.irr |= mask;
    if (edge && old === this.state.irr) return 0;
    return this.service(pin);
  }

  /** The local APIC's EOI of a level-triggered vector clears remote IRR and re-services the pin. */
  eoi(vector: number): void {
    this.state.redirtbl.forEach((e, pin) => {
      if (Number(e & 0xffn) !== vector || (e & LEVEL) === 0n || (e & REMOTE_IRR) === 0n) return;
      this.state.redirtbl[pin] = e & ~REMOTE_IRR;
      if (this.state.irr & (1 << pin)) this.service(pin);
    });
  }

  handles(gpa: number): boolean {
    const base = Number(this.state.base_address);
    return gpa >= base && gpa < base + 0x100;
  }

  private readIndirect(): number {
    const sel = this.state.ioregsel;
    switch (sel) {
      case 0:
        return (this.state.id & 0xf) << 24;
      case 1:
        return 0x11 | ((IOAPIC_PINS - 1) << 16);
      case 2:
        return (this.state.id & 0xf) << 24;
      default: {
        const pin = (sel - 0x10) >> 1;
        if (pin < 0 || pin >= IOAPIC_PINS) return 0xffffffff;
        const e = this.state.redirtbl[pin];
        return Number(sel & 1 ? e >> 32n : e & 0xffffffffn) >>> 0;
      }
    }
  }

  read(gpa: number): number {
    const off = (gpa - Number(this.state.base_address)) & 0xff;
    if (off === 0x00) return this.state.ioregsel;
    if (off === 0x10) return this.readIndirect();
    return 0;
  }

  write(gpa: number, val: number): void {
    const off = (gpa - Number(this.state.base_address)) & 0xff;
    if (off === 0x00) {
      this.state.ioregsel = val >>> 0;
      return;
    }
    if (off === 0x40) {
      this.eoi(val & 0xff);
      return;
    }
    if (off !== 0x10) return;
    const sel = this.state.ioregsel;
    if (sel === 0) {
      this.state.id = (val >>> 24) & 0xf;
      return;
    }
    const pin = (sel - 0x10) >> 1;
    if (sel < 0x10 || pin >= IOAPIC_PINS) return;
    const e = this.state.redirtbl[pin];
    let next: bigint;
    if (sel & 1) next = (e & 0xffffffffn) | (BigInt(val >>> 0) << 32n);
    else {
      // Delivery status (bit 12) and remote IRR (bit 14) are read-only.
      const ro = e & ((1n << 12n) | REMOTE_IRR);
      next = (e & ~0xffffffffn) | ((BigInt(val >>> 0) & ~((1n << 12n) | REMOTE_IRR)) | ro);
    }
    this.state.redirtbl[pin] = next;
    if ((next & MASKED) === 0n && this.state.irr & (1 << pin) && (next & LEVEL) !== 0n) this.service(pin);
  }
}
