// The in-kernel 8254 (KVM_CREATE_PIT2), after arch/x86/kvm/i8254.c: counters read and written
// through ports 0x40-0x43 (latching, read-back, LSB/MSB/word access), the speaker port 0x61 (the
// channel 2 gate and output), and channel 0 raising IRQ0 periodically. Time is the VM's virtual
// clock (derived from the virtual TSC), not the host's: KVM's count_load_time is host ktime.

export interface PitChannel {
  count: number;
  latched_count: number;
  count_latched: number;
  status_latched: number;
  status: number;
  read_state: number;
  write_state: number;
  write_latch: number;
  rw_mode: number;
  mode: number;
  bcd: number;
  gate: number;
  count_load_time: bigint;
}

export const PIT_FREQ = 1193182;
const NSEC = 1_000_000_000n;
const RW_LSB = 1;
const RW_MSB = 2;
const RW_WORD0 = 3;
const RW_WORD1 = 4;

export class Pit {
  channels: PitChannel[];
  flags = 0;
  speakerDataOn = 0;
  /** Channel 0's next IRQ0 edge (virtual ns), or undefined when its timer is off. */
  nextTick: bigint | undefined;
  /** Channel 0's period (virtual ns) in the periodic modes; 0 when one-shot. */
  private period = 0n;

  constructor(private readonly now: () => bigint) {
    this.channels = [0, 1, 2].map(() => ({ count: 0, latched_count: 0, count_latched: 0, status_latched: 0, status: 0, read_state: 0, write_state: 0, write_latch: 0, rw_mode: 0, mode: 0, bcd: 0, gate: 0, count_load_time: 0n }));
    // kvm_pit_reset.
    this.channels.forEach((c, i) => {
      c.mode = 0xff;
      c.gate = i !== 2 ? 1 : 0;
      this.loadCount(i, 0);
    });
  }

  /** kvm_pit_load_count / pit_load_count: channel 0 (re)starts its timer by mode. */
  loadCount(channel: number, val: number): void {
    const c = this.channels[channel];
    if (val === 0) val = 0x10000;
    c.count = val;
    if (channel !== 0) {
      c.count_load_time = this.now();
      return;
    }
    switch (c.mode) {
      case 0:
      case 1:
      case 4:
        this.startTimer(val, false);
        break;
      case 2:
      case 3:
        this.startTimer(val, true);
        break;
      default:
        this.nextTick = undefined;
    }
  }

  private startTimer(val: number, periodic: boolean): void {
    const interval = (BigInt(val) * NSEC) / BigInt(PIT_FREQ);
    const now = this.now();
    this.channels[0].count_load_time = now;
    this.period = periodic ? interval : 0n;
    this.nextTick = now + interval;
    this.resetReinject();
  }

  /** Expiries not yet acknowledged by the guest (KVM's reinject policy, its default). */
  pending = 0;
  /** The last IRQ0 was acknowledged (EOI), so another may go out. */
  private irqAck = true;

  /**
   * pit_timer_fn then pit_do_work: the clock reached `nextTick`; schedules the next and says
   * whether an IRQ0 edge goes out now (with reinjection, only once the last one was acknowledged).
   */
  tick(): boolean {
    if (this.nextTick === undefined) return false;
    this.nextTick = this.period > 0n ? this.nextTick + this.period : undefined;
    this.pending++;
    return this.work();
  }

  /** kvm_pit_reset_reinject: on a new count, and when IRQ0 is unmasked (pit_mask_notifer). */
  resetReinject(): void {
    this.pending = 0;
    this.irqAck = true;
  }

  private work(): boolean {
    if (!this.irqAck) return false;
    this.irqAck = false;
    return true;
  }

  /** kvm_pit_ack_irq: the guest acknowledged IRQ0; true when a held-back expiry goes out now. */
  ack(): boolean {
    this.irqAck = true;
    const left = this.pending - 1;
    if (this.pending > 0) this.pending = left;
    return left > 0 && this.work();
  }

  private elapsedTicks(channel: number): bigint {
    const ns = this.now() - this.channels[channel].count_load_time;
    return ns <= 0n ? 0n : (ns * BigInt(PIT_FREQ)) / NSEC;
  }

  getCount(channel: number): number {
    const c = this.channels[channel];
    const d = this.elapsedTicks(channel);
    const count = BigInt(c.count);
    switch (c.mode) {
      case 0:
      case 1:
      case 4:
      case 5:
        return Number((count - d) & 0xffffn);
      case 3:
        return Number(count - ((2n * d) % count));
      default:
        return Number(count - (d % count));
    }
  }

  getOut(channel: number): number {
    const c = this.channels[channel];
    const d = this.elapsedTicks(channel);
    const count = BigInt(c.count);
    switch (c.mode) {
      case 1:
        return d < count ? 1 : 0;
      case 2:
        return d % count === 0n && d !== 0n ? 1 : 0;
      case 3:
        return d % count < (count + 1n) >> 1n ? 1 : 0;
      case 4:
      case 5:
        return d === count ? 1 : 0;
      default:
        return d >= count ? 1 : 0;
    }
  }

  setGate(channel: number, val: number): void {
    const c = this.channels[channel];
    if ([1, 2, 3, 5].includes(c.mode) && c.gate < val) c.count_load_time = this.now();
    c.gate = val;
  }

  private latchCount(channel: number): void {
    const c = this.channels[channel];
    if (!c.count_latched) {
      c.latched_count = this.getCount(channel) & 0xffff;
      c.count_latched = c.rw_mode;
    }
  }

  private latchStatus(channel: number): void {
    const c = this.channels[channel];
    if (!c.status_latched) {
      c.status = ((this.getOut(channel) << 7) | (c.rw_mode << 4) | (c.mode << 1) | c.bcd) & 0xff;
      c.status_latched = 1;
    }
  }

  handles(port: number): boolean {
    return (port >= 0x40 && port <= 0x43) || port === 0x61;
  }

  write(port: number, val: number): void {
    if (port === 0x61) {
      this.speakerDataOn = (val >> 1) & 1;
      this.setGate(2, val & 1);
      return;
    }
    const addr = port & 3;
    if (addr === 3) {
      const channel = val >> 6;
      if (channel === 3) {
        for (let ch = 0; ch < 3; ch++) {
          if (val & (2 << ch)) {
            if (!(val & 0x20)) this.latchCount(ch);
            if (!(val & 0x10)) this.latchStatus(ch);
          }
        }
        return;
      }
      const c = this.channels[channel];
      const access = (val >> 4) & 3;
      if (access === 0) {
        this.latchCount(channel);
      } else {
        c.rw_mode = access;
        c.read_state = access;
        c.write_state = access;
        c.mode = (val >> 1) & 7;
        if (c.mode > 5) c.mode -= 4;
        c.bcd = val & 1;
      }
      return;
    }
    const c = this.channels[addr];
    switch (c.write_state) {
      case RW_LSB:
        this.loadCount(addr, val);
        break;
      case RW_MSB:
        this.loadCount(addr, val << 8);
        break;
      case RW_WORD0:
        c.write_latch = val;
        c.write_state = RW_WORD1;
        break;
      case RW_WORD1:
        this.loadCount(addr, c.write_latch | (val << 8));
        c.write_state = RW_WORD0;
        break;
    }
  }

  read(port: number): number {
    if (port === 0x61) {
      // The refresh-clock bit toggles every 2^14 ns of (here: virtual) time.
      const refresh = Number((this.now() >> 14n) & 1n);
      return ((this.speakerDataOn << 1) | this.channels[2].gate | (this.getOut(2) << 5) | (refresh << 4)) & 0xff;
    }
    const addr = port & 3;
    if (addr === 3) return 0;
    const c = this.channels[addr];
    if (c.status_latched) {
      c.status_latched = 0;
      return c.status;
    }
    if (c.count_latched) {
      switch (c.count_latched) {
        case RW_MSB:
          c.count_latched = 0;
          return (c.latched_count >> 8) & 0xff;
        case RW_WORD0:
          c.count_latched = RW_MSB;
          return c.latched_count & 0xff;
        default:
          c.count_latched = 0;
          return c.latched_count & 0xff;
      }
    }
    const count = this.getCount(addr);
    switch (c.read_state) {
      case RW_MSB:
        return (count >> 8) & 0xff;
      case RW_WORD0:
        c.read_state = RW_WORD1;
        return count & 0xff;
      case RW_WORD1:
        c.read_state = RW_WORD0;
        return (count >> 8) & 0xff;
      default:
        return count & 0xff;
    }
  }
}
