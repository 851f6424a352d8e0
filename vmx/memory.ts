/**
 * Guest-physical memory: slots as KVM_SET_USER_MEMORY_REGION describes them, plus EPT-style
 * R/W/X permissions per slot. Addresses outside every slot are MMIO.
 */

export const Perm = { R: 1, W: 2, X: 4, RWX: 7 } as const;

export interface SlotSpec {
  /** Slot number (KVM's `slot`); a later spec with the same number replaces the slot. */
  slot: number;
  /** Guest-physical base, page aligned. */
  gpa: number;
  /** Size in bytes, page aligned; 0 deletes the slot (as KVM does). */
  size: number;
  /** Backing bytes (a view into a host buffer is fine); at least `size` long. Allocated when absent. */
  backing?: Uint8Array;
  /** KVM_MEM_READONLY: reads are served, writes exit as MMIO. */
  readonly?: boolean;
  /** EPT permissions, Perm bits; RWX when absent. A denied access exits with EPT_VIOLATION. */
  perms?: number;
}

export class MemorySlot {
  constructor(
    readonly slot: number,
    readonly gpa: number,
    readonly size: number,
    readonly backing: Uint8Array,
    readonly readonly: boolean,
    readonly perms: number,
  ) {}

  get end(): number {
    return this.gpa + this.size;
  }
}

/** Listener told when cached translations or decoded code may be stale. */
export interface MemoryObserver {
  /** Slots changed: drop every cached translation. */
  flushTranslations(): void;
  /** Bytes of a guest-physical range changed behind the CPU's back (monitor writes, DMA). */
  invalidateCode(gpa: number, length: number): void;
}

export const PAGE_SIZE = 4096;

export class GuestMemory {
  private slots: MemorySlot[] = [];
  private last: MemorySlot | undefined;
  private readonly observers: MemoryObserver[] = [];

  setSlot(spec: SlotSpec): void {
    if (spec.gpa % PAGE_SIZE !== 0 || spec.size % PAGE_SIZE !== 0) {
      throw new RangeError(`slot ${spec.slot}: gpa and size must be page aligned`);
    }
    const old = this.slots.find((s) => s.slot === spec.slot);
    const rest = this.slots.filter((s) => s.slot !== spec.slot);
    if (spec.size > 0) {
      const clash = rest.find((s) => spec.gpa < s.end && s.gpa < spec.gpa + spec.size);
      if (clash) throw new RangeError(`slot ${spec.slot} overlaps slot ${clash.slot}`);
      const backing = spec.backing ?? new Uint8Array(spec.size);
      if (backing.length < spec.size) throw new RangeError(`slot ${spec.slot}: backing shorter than size`);
      rest.push(new MemorySlot(spec.slot, spec.gpa, spec.size, backing, spec.readonly ?? false, spec.perms ?? Perm.RWX));
      rest.sort((a, b) => a.gpa - b.gpa);
    }
    this.slots = rest;
    this.last = undefined;
    for (const o of this.observers) {
      o.flushTranslations();
      if (old) o.invalidateCode(old.gpa, old.size);
      if (spec.size > 0) o.invalidateCode(spec.gpa, spec.size);
    }
  }

  listSlots(): readonly MemorySlot[] {
    return this.slots;
  }

  /** The slot holding `gpa`, or undefined for MMIO. Caches the last hit: accesses cluster. */
  find(gpa: number): MemorySlot | undefined {
    const l = this.last;
    if (l !== undefined && gpa >= l.gpa && gpa < l.gpa + l.size) return l;
    for (const s of this.slots) {
      if (gpa >= s.gpa && gpa < s.end) {
        this.last = s;
        return s;
      }
    }
    return undefined;
  }

  /**
   * Tell the core that bytes changed outside the guest's own stores (the monitor wrote guest
   * memory between runs). Decoded instructions over that range are dropped.
   */
  notifyWrite(gpa: number, length: number): void {
    for (const o of this.observers) o.invalidateCode(gpa, length);
  }

  /** Copy bytes out of RAM slots; bytes in MMIO holes read as 0xff. For monitors and tests. */
  read(gpa: number, length: number): Uint8Array {
    const out = new Uint8Array(length).fill(0xff);
    for (let i = 0; i < length; ) {
      const s = this.find(gpa + i);
      if (s === undefined) {
        i++;
        continue;
      }
      const n = Math.min(length - i, s.end - (gpa + i));
      out.set(s.backing.subarray(gpa + i - s.gpa, gpa + i - s.gpa + n), i);
      i += n;
    }
    return out;
  }

  /** Copy bytes into RAM slots (ignoring permissions, as a monitor's own mapping does). */
  write(gpa: number, bytes: Uint8Array): void {
    for (let i = 0; i < bytes.length; ) {
      const s = this.find(gpa + i);
      if (s === undefined) throw new RangeError(`gpa 0x${(gpa + i).toString(16)} is not backed by a slot`);
      const n = Math.min(bytes.length - i, s.end - (gpa + i));
      s.backing.set(bytes.subarray(i, i + n), gpa + i - s.gpa);
      i += n;
    }
    this.notifyWrite(gpa, bytes.length);
  }

  observe(o: MemoryObserver): void {
    this.observers.push(o);
  }
}
