// The in-kernel 8259 pair (KVM_CREATE_IRQCHIP), after arch/x86/kvm/i8259.c: ICW/OCW programming,
// IRR/ISR/IMR, edge and level (ELCR) triggering, EOI and rotation, the acknowledge cycle. The
// state is kvm_pic_state's, field for field, so KVM_GET/SET_IRQCHIP move it whole.

export interface PicState {
  last_irr: number;
  irr: number;
  imr: number;
  isr: number;
  priority_add: number;
  irq_base: number;
  read_reg_select: number;
  poll: number;
  special_mask: number;
  init_state: number;
  auto_eoi: number;
  rotate_on_auto_eoi: number;
  special_fully_nested_mode: number;
  init4: number;
  elcr: number;
  elcr_mask: number;
}

export const PIC_FIELDS = ['last_irr', 'irr', 'imr', 'isr', 'priority_add', 'irq_base', 'read_reg_select', 'poll', 'special_mask', 'init_state', 'auto_eoi', 'rotate_on_auto_eoi', 'special_fully_nested_mode', 'init4', 'elcr', 'elcr_mask'] as const;

const blank = (elcrMask: number): PicState => ({
  last_irr: 0, irr: 0, imr: 0, isr: 0, priority_add: 0, irq_base: 0, read_reg_select: 0, poll: 0, special_mask: 0,
  init_state: 0, auto_eoi: 0, rotate_on_auto_eoi: 0, special_fully_nested_mode: 0, init4: 0, elcr: 0, elcr_mask: elcrMask,
});

/** The master (ports 0x20/0x21, ELCR 0x4d0) and slave (0xa0/0xa1, ELCR 0x4d1) as one device. */
export class PicPair {
  /** kvm_create_pic: the ELCR masks of the PIIX (IRQ 0-2 and 8, 13 are edge only). */
  readonly chips: [PicState, PicState] = [blank(0xf8), blank(0xde)];
  /** The INTR line to the CPU (through LAPIC LVT0). */
  output = false;
  /** kvm_fire_mask_notifiers: OCW1 masked or unmasked an IRQ (0-15). */
  onMask: ((irq: number, masked: boolean) => void) | undefined;
  /** kvm_notify_acked_irq: an IRQ (0-15) left ISR by an EOI or auto-EOI. */
  onEoi: ((irq: number) => void) | undefined;

  /** pic_clear_isr. */
  private clearIsr(which: 0 | 1, irq: number): void {
    this.chips[which].isr &= ~(1 << irq);
    this.onEoi?.(irq + 8 * which);
  }

  private static priority(s: PicState, mask: number): number {
    if (mask === 0) return 8;
    let p = 0;
    while ((mask & (1 << ((p + s.priority_add) & 7))) === 0) p++;
    return p;
  }

  private getIrq(which: 0 | 1): number {
    const s = this.chips[which];
    const p = PicPair.priority(s, s.irr & ~s.imr);
    if (p === 8) return -1;
    let mask = s.isr;
    if (s.special_fully_nested_mode && which === 0) mask &= ~(1 << 2);
    if (s.special_mask) mask &= ~s.imr;
    const cur = PicPair.priority(s, mask);
    return p < cur ? (p + s.priority_add) & 7 : -1;
  }

  /** pic_set_irq1: 1 delivered, 0 coalesced, -1 masked. */
  private setIrq1(which: 0 | 1, irq: number, level: number): number {
    const s = this.chips[which];
    const mask = 1 << irq;
    let ret = 1;
    if (s.elcr & mask) {
      if (level) {
        ret = s.irr & mask ? 0 : 1;
        s.irr |= mask;
        s.last_irr |= mask;
      } else {
        s.irr &= ~mask;
        s.last_irr &= ~mask;
      }
    } else if (level) {
      if ((s.last_irr & mask) === 0) {
        ret = s.irr & mask ? 0 : 1;
        s.irr |= mask;
      }
      s.last_irr |= mask;
    } else {
      s.last_irr &= ~mask;
    }
    return s.imr & mask ? -1 : ret;
  }

  update(): void {
    const irq2 = this.getIrq(1);
    this.setIrq1(0, 2, irq2 >= 0 ? 1 : 0);
    this.output = this.getIrq(0) >= 0;
  }

  /** kvm_pic_set_irq: GSI pin 0-15. */
  setIrq(pin: number, level: number): number {
    const ret = this.setIrq1(pin >> 3 ? 1 : 0, pin & 7, level);
    this.update();
    return ret;
  }

  private intack(which: 0 | 1, irq: number): void {
    const s = this.chips[which];
    s.isr |= 1 << irq;
    if (s.auto_eoi) {
      if (s.rotate_on_auto_eoi) s.priority_add = (irq + 1) & 7;
      this.clearIsr(which, irq);
    }
    if ((s.elcr & (1 << irq)) === 0) s.irr &= ~(1 << irq);
  }

  /** kvm_pic_read_irq: the acknowledge cycle; the vector the CPU takes. */
  ack(): number {
    const [m, sl] = this.chips;
    let irq = this.getIrq(0);
    let vector: number;
    if (irq >= 0) {
      this.intack(0, irq);
      if (irq === 2) {
        let irq2 = this.getIrq(1);
        if (irq2 >= 0) this.intack(1, irq2);
        else irq2 = 7; // spurious IRQ on the slave
        vector = sl.irq_base + irq2;
      } else vector = m.irq_base + irq;
    } else {
      irq = 7; // spurious IRQ on the master
      vector = m.irq_base + irq;
    }
    this.update();
    return vector & 0xff;
  }

  /** Some vCPU takes the 8259's INTR (kvm_apic_accept_pic_intr). */
  acceptsIntr: (() => boolean) | undefined;

  /** kvm_pic_reset: edge-triggered requests still pending are dropped and, if a vCPU listens, acknowledged. */
  private reset(which: 0 | 1): void {
    const s = this.chips[which];
    const edgeIrr = s.irr & ~s.elcr;
    s.last_irr = 0;
    s.irr &= s.elcr;
    s.imr = 0;
    s.priority_add = 0;
    s.special_mask = 0;
    s.read_reg_select = 0;
    if (!s.init4) {
      s.special_fully_nested_mode = 0;
      s.auto_eoi = 0;
    }
    s.init_state = 1;
    if (!this.acceptsIntr?.()) return;
    for (let irq = 0; irq < 8; irq++) if (edgeIrr & (1 << irq)) this.clearIsr(which, irq);
  }

  /** Ports 0x20/0x21/0xa0/0xa1/0x4d0/0x4d1. */
  handles(port: number): boolean {
    return port === 0x20 || port === 0x21 || port === 0xa0 || port === 0xa1 || port === 0x4d0 || port === 0x4d1;
  }

  write(port: number, val: number): void {
    if (port === 0x4d0 || port === 0x4d1) {
      const s = this.chips[port & 1];
      s.elcr = val & s.elcr_mask;
      return;
    }
    const which = port >= 0xa0 ? 1 : 0;
    const s = this.chips[which];
    if ((port & 1) === 0) {
      if (val & 0x10) {
        s.init4 = val & 1;
        this.reset(which);
        this.update();
      } else if (val & 0x08) {
        if (val & 0x04) s.poll = 1;
        if (val & 0x02) s.read_reg_select = val & 1;
        if (val & 0x40) s.special_mask = (val >> 5) & 1;
      } else {
        const cmd = val >> 5;
        switch (cmd) {
          case 0:
          case 4:
            s.rotate_on_auto_eoi = cmd >> 2;
            break;
          case 1:
          case 5: {
            const p = PicPair.priority(s, s.isr);
            if (p !== 8) {
              const irq = (p + s.priority_add) & 7;
              if (cmd === 5) s.priority_add = (irq + 1) & 7;
              this.clearIsr(which, irq);
              this.update();
            }
            break;
          }
          case 3:
            this.clearIsr(which, val & 7);
            this.update();
            break;
          case 6:
            s.priority_add = (val + 1) & 7;
            this.update();
            break;
          case 7:
            s.priority_add = ((val & 7) + 1) & 7;
            this.clearIsr(which, val & 7);
            this.update();
            break;
          default:
            break;
        }
      }
      return;
    }
    switch (s.init_state) {
      case 0: {
        const changed = s.imr ^ val;
        s.imr = val;
        for (let irq = 0; irq < 8; irq++) if (changed & (1 << irq)) this.onMask?.(irq + 8 * which, (val & (1 << irq)) !== 0);
        this.update();
        break;
      }
      case 1:
        s.irq_base = val & 0xf8;
        s.init_state = 2;
        break;
      case 2:
        s.init_state = s.init4 ? 3 : 0;
        break;
      case 3:
        s.special_fully_nested_mode = (val >> 4) & 1;
        s.auto_eoi = (val >> 1) & 1;
        s.init_state = 0;
        break;
    }
  }

  read(port: number): number {
    if (port === 0x4d0 || port === 0x4d1) return this.chips[port & 1].elcr;
    const which = port >= 0xa0 ? 1 : 0;
    const s = this.chips[which];
    if (s.poll) {
      s.poll = 0;
      const irq = this.getIrq(which);
      if (irq < 0) return 0x07;
      this.intack(which, irq);
      this.update();
      return irq | 0x80;
    }
    if ((port & 1) === 0) return s.read_reg_select ? s.isr : s.irr;
    return s.imr;
  }
}
