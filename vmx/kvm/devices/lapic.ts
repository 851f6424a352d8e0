// The in-kernel local APIC (KVM_CREATE_IRQCHIP), after arch/x86/kvm/lapic.c: the 1 KiB register
// page KVM_GET/SET_LAPIC move, MMIO at IA32_APIC_BASE, IRR/ISR/TPR/PPR, EOI, the LVTs with
// KVM's writable masks, LVT0's ExtINT gate for the 8259's INTR. Not modelled: the APIC timer
// (TMICT counts nothing), IPIs (there is no other vCPU to reach; ICR is stored), x2APIC MSRs.

const REG = {
  ID: 0x20, LVR: 0x30, TPR: 0x80, APR: 0x90, PPR: 0xa0, EOI: 0xb0, LDR: 0xd0, DFR: 0xe0, SVR: 0xf0,
  ISR: 0x100, TMR: 0x180, IRR: 0x200, ESR: 0x280, ICR: 0x300, ICR2: 0x310,
  LVTT: 0x320, LVTTHMR: 0x330, LVTPC: 0x340, LVT0: 0x350, LVT1: 0x360, LVTERR: 0x370, TMICT: 0x380, TMCCT: 0x390, TDCR: 0x3e0,
} as const;
/** APIC_VERSION 0x14 with 6 LVT entries (KVM without CMCI). */
const VERSION = 0x50014;
const LVT_MASKED = 0x10000;
const LVT_MASKS: Record<number, number> = {
  [REG.LVTT]: 0x300ff | LVT_MASKED, // vector, delivery status, timer mode
  [REG.LVTTHMR]: 0x7ff | LVT_MASKED,
  [REG.LVTPC]: 0x7ff | LVT_MASKED,
  [REG.LVT0]: 0xe7ff | LVT_MASKED,
  [REG.LVT1]: 0xe7ff | LVT_MASKED,
  [REG.LVTERR]: 0xff | LVT_MASKED,
};
export const APIC_BASE_ENABLE = 1n << 11n;

export class Lapic {
  readonly regs = new Uint8Array(1024);
  private readonly view = new DataView(this.regs.buffer);

  constructor(
    vcpuId: number,
    /** EOI of a level-triggered vector goes back to the IOAPIC. */
    private readonly onLevelEoi: (vector: number) => void,
  ) {
    // kvm_lapic_reset.
    this.set(REG.ID, vcpuId << 24);
    this.set(REG.LVR, VERSION);
    this.set(REG.DFR, 0xffffffff);
    this.set(REG.SVR, 0xff);
    for (const r of [REG.LVTT, REG.LVTTHMR, REG.LVTPC, REG.LVT0, REG.LVT1, REG.LVTERR]) this.set(r, LVT_MASKED);
    // The BSP's LINT0 takes the 8259's ExtINT (KVM_X86_QUIRK_LINT0_REENABLED).
    if (vcpuId === 0) this.set(REG.LVT0, 0x700);
  }

  get(reg: number): number {
    return this.view.getUint32(reg, true);
  }

  private set(reg: number, v: number): void {
    this.view.setUint32(reg, v >>> 0, true);
  }

  /** KVM_SET_LAPIC: the page as given, with KVM's version register. */
  load(bytes: Uint8Array): void {
    this.regs.set(bytes.subarray(0, 1024));
    this.set(REG.LVR, VERSION);
    this.set(REG.TMCCT, 0);
  }

  /** KVM_GET_LAPIC: the page; the timer's current count is 0 (the timer is not modelled). */
  save(): Uint8Array {
    this.set(REG.TMCCT, 0);
    return this.regs.slice();
  }

  private bit(base: number, vector: number): [number, number] {
    return [base + ((vector >> 5) << 4), 1 << (vector & 31)];
  }

  private highest(base: number): number {
    for (let v = 255; v >= 0; v -= 32) {
      const w = this.get(base + ((v >> 5) << 4));
      if (w !== 0) return (v & ~31) + 31 - Math.clz32(w);
    }
    return -1;
  }

  private ppr(): number {
    const tpr = this.get(REG.TPR) & 0xff;
    const isr = this.highest(REG.ISR);
    const isrClass = isr < 0 ? 0 : isr & 0xf0;
    return (tpr & 0xf0) >= isrClass ? tpr : isrClass;
  }

  softwareEnabled(): boolean {
    return (this.get(REG.SVR) & 0x100) !== 0;
  }

  /** kvm_apic_accept_pic_intr: LINT0 unmasked in ExtINT mode, or the APIC disabled in hardware. */
  acceptsPicIntr(hwEnabled: boolean): boolean {
    const lvt0 = this.get(REG.LVT0);
    return !hwEnabled || ((lvt0 & LVT_MASKED) === 0 && ((lvt0 >> 8) & 7) === 7);
  }

  /** A fixed interrupt from the IOAPIC (or an MSI): into IRR (TMR for level). */
  accept(vector: number, level: boolean): number {
    if (!this.softwareEnabled()) return 0;
    const [reg, m] = this.bit(REG.IRR, vector);
    this.set(reg, this.get(reg) | m);
    const [treg, tm] = this.bit(REG.TMR, vector);
    this.set(treg, level ? this.get(treg) | tm : this.get(treg) & ~tm);
    return 1;
  }

  /** The vector to inject, if IRR holds one above the processor priority. */
  pending(): number {
    const v = this.highest(REG.IRR);
    return v >= 0 && (v & 0xf0) > (this.ppr() & 0xf0) ? v : -1;
  }

  /** The CPU took `vector`: IRR to ISR. */
  ack(vector: number): void {
    const [reg, m] = this.bit(REG.IRR, vector);
    this.set(reg, this.get(reg) & ~m);
    const [ireg, im] = this.bit(REG.ISR, vector);
    this.set(ireg, this.get(ireg) | im);
    this.set(REG.PPR, this.ppr());
  }

  read(offset: number): number {
    const reg = offset & 0xff0;
    if (reg === REG.PPR) return this.ppr();
    if (reg === REG.TMCCT) return 0;
    const v = this.get(reg);
    return v >>> ((offset & 3) * 8);
  }

  write(offset: number, val: number): void {
    const reg = offset & 0xff0;
    val >>>= 0;
    switch (reg) {
      case REG.ID:
        this.set(reg, val & 0xff000000);
        break;
      case REG.TPR:
        this.set(reg, val & 0xff);
        this.set(REG.PPR, this.ppr());
        break;
      case REG.EOI: {
        const v = this.highest(REG.ISR);
        if (v < 0) break;
        const [ireg, im] = this.bit(REG.ISR, v);
        this.set(ireg, this.get(ireg) & ~im);
        const [treg, tm] = this.bit(REG.TMR, v);
        if (this.get(treg) & tm) this.onLevelEoi(v);
        this.set(REG.PPR, this.ppr());
        break;
      }
      case REG.LDR:
        this.set(reg, val & 0xff000000);
        break;
      case REG.DFR:
        this.set(reg, val | 0x0fffffff);
        break;
      case REG.SVR: {
        this.set(reg, val & 0x3ff);
        if ((val & 0x100) === 0) for (const r of Object.keys(LVT_MASKS)) this.set(Number(r), this.get(Number(r)) | LVT_MASKED);
        break;
      }
      case REG.ESR:
        this.set(reg, 0);
        break;
      case REG.ICR:
        // The IPI goes nowhere (one vCPU); delivery status reads idle.
        this.set(reg, val & ~(1 << 12));
        break;
      case REG.ICR2:
        this.set(reg, val & 0xff000000);
        break;
      case REG.TMICT:
        this.set(reg, val);
        break;
      case REG.TDCR:
        this.set(reg, val & 0xb);
        break;
      default: {
        const mask = LVT_MASKS[reg];
        if (mask === undefined) break;
        let v = val & mask;
        if (!this.softwareEnabled()) v |= LVT_MASKED;
        this.set(reg, v);
      }
    }
  }
}
