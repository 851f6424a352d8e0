/**
 * Layer 1: the x86 CPU. Architectural state, guest memory access through paging and the
 * slots, the fetch/decode/dispatch loop, and exception delivery entry points. Instructions
 * live in exec/*; system effects the VMX model owns (CPUID, MSRs, the TSC) go through `SystemBus`.
 *
 * Representation choices, for speed without losing exactness:
 * - GPRs are two Uint32Arrays of halves (`lo`, `hi`); 8/16/32-bit work touches `lo` only.
 * - RIP is a number: EIP in legacy modes, the signed canonical value in 64-bit mode.
 * - Linear addresses are numbers below 2^48 (64-bit ones folded from their canonical form).
 * - A direct-mapped TLB per access kind maps linear pages straight to slot backing bytes.
 */
import { ExitReason, type VmExit } from '../exits.js';
import { Perm, type GuestMemory, type MemoryObserver, type MemorySlot } from '../memory.js';
import { type FlagState } from './alu-flags.js';
import { CR0, CR4, EFER } from './control-regs.js';
import { DecodeCache } from './decode-cache.js';
import { decodeInsn } from './decode.js';
import { ExitRequest, GuestFault, Vec } from './faults.js';
import { FIXED1, IF } from './flags.js';
import { BASE_RIP, type Insn, K } from './insn.js';
import { completePendingIo, type PendingIo } from './exec/io.js';
import { deliverEvent, raiseException, EventKind } from './interrupts.js';
import { Access, PagingMode, translate, type WalkContext } from './paging.js';
import { Seg, Segment } from './segment.js';

/** What the CPU asks of the VMX model: the state KVM keeps in kernel for a vCPU. */
export interface SystemBus {
  /** Fill `out` with eax, ebx, ecx, edx for CPUID(leaf, subleaf). */
  cpuid(leaf: number, subleaf: number, out: Uint32Array): void;
  /** An MSR's value, or undefined to inject #GP. */
  rdmsr(index: number): bigint | undefined;
  /** Store an MSR; false to inject #GP. */
  wrmsr(index: number, value: bigint): boolean;
  /** The virtual TSC now. */
  rdtsc(): bigint;
}

const TWO32 = 4294967296;
const TWO48 = 2 ** 48;
const CANON = 2 ** 47;
const TLB_SIZE = 256;

export class Cpu implements FlagState, WalkContext, MemoryObserver {
  // ---- architectural state ----
  readonly lo = new Uint32Array(16);
  readonly hi = new Uint32Array(16);
  rip = 0xfff0;
  flags = FIXED1;
  readonly seg: Segment[] = Array.from({ length: 8 }, () => new Segment());
  gdtBase = 0;
  gdtLimit = 0xffff;
  idtBase = 0;
  idtLimit = 0xffff;
  cr0 = CR0.ET | CR0.NW | CR0.CD;
  cr2 = 0;
  cr3 = 0;
  cr4 = 0;
  cr8 = 0;
  efer = 0;
  /** DR0..DR7 (DR4/DR5 alias DR6/DR7 and are never stored). */
  readonly dr: bigint[] = [0n, 0n, 0n, 0n, 0n, 0n, 0xffff0ff0n, 0x400n];

  // ---- derived from the state above by updateMode() ----
  /** Code size: 16, 32 or 64. */
  bits = 16;
  /** Stack pointer width in bytes. */
  stackSize = 2;
  cpl = 0;
  pagingMode: number = PagingMode.NONE;
  writeProtect = false;
  noExecute = false;

  // ---- execution ----
  /** RIP of the next instruction; control transfers set it. */
  nextRip = 0;
  /** Retired instructions; the virtual TSC and the budget count these. */
  icount = 0;
  /** External interrupt vector waiting for IF=1, or -1. */
  pendingIrq = -1;
  /** icount of the instruction that runs in an STI / MOV SS interrupt shadow, or -1. */
  shadowAt = -1;
  /** Set from outside to stop at the next instruction boundary. */
  kick = false;
  /** Stop with INTERRUPT_WINDOW once an interrupt could be injected (KVM's request_interrupt_window). */
  wantWindow = false;
  /** Exits to report once the current instruction has retired (MMIO writes, HLT). */
  readonly postExits: VmExit[] = [];
  /** Data for MMIO reads, supplied by the monitor, consumed in order by the restarted instruction. */
  readonly mmioReads: Uint8Array[] = [];
  mmioIdx = 0;
  /** An MMIO read exit awaiting its data. */
  pendingMmio: { gpa: number; size: number } | undefined;
  /** A port I/O instruction waiting for the monitor (completes on the next run). */
  pendingIo: PendingIo | undefined;
  /**
   * An exit the current instruction's handler stopped at, before it retired (port I/O): returned
   * by execute, not thrown, as throwing took nine tenths of such an exit's time.
   */
  stopExit: VmExit | undefined;
  ioData: Uint8Array | undefined;
  /** Spare slots: high half of a 64-bit operand read, of a 64-bit ALU result. */
  opHi = 0;
  hiOut = 0;

  // ---- translation caches ----
  private readonly rTag = new Float64Array(TLB_SIZE).fill(-1);
  private readonly rMem: Uint8Array[] = new Array<Uint8Array>(TLB_SIZE);
  private readonly rOff = new Float64Array(TLB_SIZE);
  private readonly wTag = new Float64Array(TLB_SIZE).fill(-1);
  private readonly wMem: Uint8Array[] = new Array<Uint8Array>(TLB_SIZE);
  private readonly wOff = new Float64Array(TLB_SIZE);
  private fetchPage = -1;
  private fetchTable: Array<Insn | undefined> = [];
  private fetchSlot: MemorySlot | undefined;
  private fetchPhys = 0;

  constructor(
    readonly memory: GuestMemory,
    readonly code: DecodeCache,
    public bus: SystemBus,
  ) {
    memory.observe(this);
    const prev = code.onNewCodePage;
    code.onNewCodePage = () => {
      prev?.();
      this.wTag.fill(-1);
    };
    const cs = this.seg[Seg.CS];
    cs.selector = 0xf000;
    cs.base = 0xffff0000;
    for (const s of this.seg) s.type = 3;
    cs.type = 0xb;
    this.seg[Seg.LDTR].type = 2;
    this.seg[Seg.LDTR].s = 0;
    this.seg[Seg.TR].type = 0xb;
    this.seg[Seg.TR].s = 0;
    this.updateMode();
  }

  // ---------------------------------------------------------------- mode

  /** Recompute everything derived from CR0/CR4/EFER/CS/SS. Call after changing any of them. */
  updateMode(): void {
    const pe = (this.cr0 & CR0.PE) !== 0;
    const lma = (this.efer & EFER.LMA) !== 0;
    const cs = this.seg[Seg.CS];
    const bits = !pe ? 16 : lma && cs.l ? 64 : cs.db ? 32 : 16;
    if (bits !== this.bits) this.fetchPage = -1;
    this.bits = bits;
    this.stackSize = bits === 64 ? 8 : this.seg[Seg.SS].db ? 4 : 2;
    this.cpl = pe ? this.seg[Seg.SS].dpl : 0;
    const paging = (this.cr0 & CR0.PG) === 0 ? PagingMode.NONE : lma ? PagingMode.LEVEL4 : this.cr4 & CR4.PAE ? PagingMode.PAE : PagingMode.BITS32;
    const wp = (this.cr0 & CR0.WP) !== 0;
    const nx = (this.efer & EFER.NXE) !== 0 && paging >= PagingMode.PAE;
    if (paging !== this.pagingMode || wp !== this.writeProtect || nx !== this.noExecute) this.flushTranslations();
    this.pagingMode = paging;
    this.writeProtect = wp;
    this.noExecute = nx;
  }

  flushTranslations(): void {
    this.rTag.fill(-1);
    this.wTag.fill(-1);
    this.fetchPage = -1;
  }

  invalidateCode(gpa: number, length: number): void {
    this.code.invalidate(gpa, length);
    this.fetchPage = -1;
  }

  // ---------------------------------------------------------------- registers

  /** Read a GPR of 1, 2 or 4 bytes (low byte for size 1). */
  getReg(r: number, size: number): number {
    const v = this.lo[r];
    return size === 4 ? v : size === 2 ? v & 0xffff : v & 0xff;
  }

  /** Write a GPR of 1, 2, 4 or 8 bytes; 32-bit writes zero the upper half as in 64-bit mode. */
  setReg(r: number, size: number, v: number, vhi = 0): void {
    if (size === 4) {
      this.lo[r] = v;
      this.hi[r] = 0;
    } else if (size === 8) {
      this.lo[r] = v;
      this.hi[r] = vhi;
    } else if (size === 2) this.lo[r] = (this.lo[r] & 0xffff0000) | (v & 0xffff);
    else this.lo[r] = (this.lo[r] & 0xffffff00) | (v & 0xff);
  }

  /** Read operand (kind k, register r, memory at `lin`) of 1/2/4 bytes, or 8 with the high half in opHi. */
  rdOp(i: Insn, k: number, r: number, lin: number, size: number): number {
    switch (k) {
      case K.REG:
        if (size === 8) {
          this.opHi = this.hi[r];
          return this.lo[r];
        }
        return this.getReg(r, size);
      case K.REGH:
        return (this.lo[r] >>> 8) & 0xff;
      case K.MEM:
        return size === 8 ? this.read64(lin) : this.read(lin, size);
      default:
        this.opHi = i.immHi;
        return size === 4 || size === 8 ? i.imm : size === 2 ? i.imm & 0xffff : i.imm & 0xff;
    }
  }

  wrOp(k: number, r: number, lin: number, size: number, v: number, vhi = 0): void {
    switch (k) {
      case K.REG:
        this.setReg(r, size, v, vhi);
        return;
      case K.REGH:
        this.lo[r] = (this.lo[r] & 0xffff00ff) | ((v & 0xff) << 8);
        return;
      default:
        if (size === 8) this.write64(lin, v, vhi);
        else this.write(lin, size, v);
    }
  }

  // ---------------------------------------------------------------- addresses

  /** Linear address of the instruction's memory operand. */
  ea(i: Insn): number {
    const segBase = i.seg < 0 ? 0 : this.seg[i.seg].base;
    if (i.asz === 8) return this.canonical(this.offset64(i) + segBase, i.seg);
    let off = i.disp;
    if (i.base >= 0) off += i.base === BASE_RIP ? this.nextRip : this.lo[i.base];
    if (i.index >= 0) off += this.lo[i.index] * i.scale;
    off = i.asz === 4 ? off >>> 0 : off & 0xffff;
    return this.bits === 64 ? this.canonical(segBase + off, i.seg) : (segBase + off) >>> 0;
  }

  /** 64-bit effective address as a signed number (exact whenever the result can be canonical). */
  private offset64(i: Insn): number {
    if (i.base === BASE_RIP) return this.nextRip + i.dispHi * TWO32 + i.disp;
    let lo = i.disp;
    let hi = i.dispHi;
    if (i.base >= 0) {
      lo += this.lo[i.base];
      hi += this.hi[i.base];
    }
    if (i.index >= 0) {
      lo += this.lo[i.index] * i.scale;
      hi += this.hi[i.index] * i.scale;
    }
    hi = (hi + Math.floor(lo / TWO32)) | 0;
    return hi * TWO32 + (lo >>> 0);
  }

  /** Check a signed 64-bit linear address for canonical form and fold it below 2^48. */
  canonical(v: number, seg: number): number {
    if (v < -CANON || v >= CANON) throw new GuestFault(seg === Seg.SS ? Vec.SS : Vec.GP, 0);
    return v < 0 ? v + TWO48 : v;
  }

  /**
   * Linear address of a base value plus an offset, for system structures (LDT, TSS): folded
   * after a canonical check under long mode, cut to 32 bits otherwise.
   */
  systemLinear(base: number, offset: number): number {
    return (this.efer & EFER.LMA) !== 0 ? this.canonical(base + offset, -1) : (base + offset) >>> 0;
  }

  /** Linear address of RIP. */
  ripLinear(): number {
    return this.bits === 64 ? (this.rip < 0 ? this.rip + TWO48 : this.rip) : (this.seg[Seg.CS].base + this.rip) >>> 0;
  }

  /** Linear address of SS:[RSP + delta]. */
  stackLin(delta: number): number {
    const sp = this.lo[4];
    if (this.bits === 64) return this.canonical((this.hi[4] | 0) * TWO32 + sp + delta, Seg.SS);
    const off = this.stackSize === 4 ? (sp + delta) >>> 0 : (sp + delta) & 0xffff;
    return (this.seg[Seg.SS].base + off) >>> 0;
  }

  addSp(delta: number): void {
    const sp = this.lo[4];
    if (this.bits === 64) {
      const v = sp + delta;
      this.lo[4] = v;
      if (v < 0) this.hi[4] -= 1;
      else if (v >= TWO32) this.hi[4] += 1;
    } else if (this.stackSize === 4) this.lo[4] = sp + delta;
    else this.lo[4] = (sp & 0xffff0000) | ((sp + delta) & 0xffff);
  }

  push(size: number, v: number, vhi = 0): void {
    const lin = this.stackLin(-size);
    if (size === 8) this.write64(lin, v, vhi);
    else this.write(lin, size, v);
    this.addSp(-size);
  }

  /** Pop 1/2/4 bytes, or 8 with the high half in opHi. */
  pop(size: number): number {
    const lin = this.stackLin(0);
    const v = size === 8 ? this.read64(lin) : this.read(lin, size);
    this.addSp(size);
    return v;
  }

  // ---------------------------------------------------------------- memory

  read(lin: number, size: number): number {
    const page = Math.floor(lin / 4096);
    const e = page & (TLB_SIZE - 1);
    const off = lin & 4095;
    if (this.rTag[e] === page && off + size <= 4096) {
      const m = this.rMem[e];
      const a = this.rOff[e] + off;
      if (size === 1) return m[a];
      if (size === 2) return m[a] | (m[a + 1] << 8);
      return (m[a] | (m[a + 1] << 8) | (m[a + 2] << 16) | (m[a + 3] << 24)) >>> 0;
    }
    return this.readSlow(lin, size);
  }

  /** 8-byte read: returns the low half, the high half in opHi. */
  read64(lin: number): number {
    const page = Math.floor(lin / 4096);
    const e = page & (TLB_SIZE - 1);
    const off = lin & 4095;
    if (this.rTag[e] === page && off <= 4088) {
      const m = this.rMem[e];
      const a = this.rOff[e] + off;
      this.opHi = (m[a + 4] | (m[a + 5] << 8) | (m[a + 6] << 16) | (m[a + 7] << 24)) >>> 0;
      return (m[a] | (m[a + 1] << 8) | (m[a + 2] << 16) | (m[a + 3] << 24)) >>> 0;
    }
    return this.readSlow(lin, 8);
  }

  write(lin: number, size: number, v: number): void {
    const page = Math.floor(lin / 4096);
    const e = page & (TLB_SIZE - 1);
    const off = lin & 4095;
    if (this.wTag[e] === page && off + size <= 4096) {
      const m = this.wMem[e];
      const a = this.wOff[e] + off;
      m[a] = v;
      if (size >= 2) {
        m[a + 1] = v >>> 8;
        if (size === 4) {
          m[a + 2] = v >>> 16;
          m[a + 3] = v >>> 24;
        }
      }
      return;
    }
    this.writeSlow(lin, size, v, 0);
  }

  write64(lin: number, lo: number, hi: number): void {
    const page = Math.floor(lin / 4096);
    const e = page & (TLB_SIZE - 1);
    const off = lin & 4095;
    if (this.wTag[e] === page && off <= 4088) {
      const m = this.wMem[e];
      const a = this.wOff[e] + off;
      m[a] = lo;
      m[a + 1] = lo >>> 8;
      m[a + 2] = lo >>> 16;
      m[a + 3] = lo >>> 24;
      m[a + 4] = hi;
      m[a + 5] = hi >>> 8;
      m[a + 6] = hi >>> 16;
      m[a + 7] = hi >>> 24;
      return;
    }
    this.writeSlow(lin, 8, lo, hi);
  }

  /** Linear to guest-physical, faulting as the guest's paging says. */
  translate(lin: number, access: number): number {
    return translate(this, lin, access, this.cpl === 3);
  }

  private readSlow(lin: number, size: number): number {
    const off = lin & 4095;
    if (off + size > 4096) {
      const bytes = new Uint8Array(8);
      for (let k = 0; k < size; k++) bytes[k] = this.read(this.bits === 64 ? (lin + k) % TWO48 : (lin + k) >>> 0, 1);
      return this.fromBytes(bytes, size);
    }
    const pa = this.translate(lin, Access.READ);
    const slot = this.memory.find(pa);
    if (slot === undefined) return this.fromBytes(this.mmioRead(pa, size), size);
    if ((slot.perms & Perm.R) === 0) this.eptViolation(pa, lin, Access.READ, slot);
    const e = Math.floor(lin / 4096) & (TLB_SIZE - 1);
    this.rTag[e] = Math.floor(lin / 4096);
    this.rMem[e] = slot.backing;
    this.rOff[e] = pa - off - slot.gpa;
    return size === 8 ? this.read64(lin) : this.read(lin, size);
  }

  private writeSlow(lin: number, size: number, lo: number, hi: number): void {
    const off = lin & 4095;
    const bytes = new Uint8Array(8);
    for (let k = 0; k < 4; k++) {
      bytes[k] = lo >>> (8 * k);
      bytes[k + 4] = hi >>> (8 * k);
    }
    if (off + size > 4096) {
      // Check both pages before writing either, as hardware does.
      const next = this.bits === 64 ? (lin + size - 1) % TWO48 : (lin + size - 1) >>> 0;
      this.translate(lin, Access.WRITE);
      this.translate(next, Access.WRITE);
      for (let k = 0; k < size; k++) this.write(this.bits === 64 ? (lin + k) % TWO48 : (lin + k) >>> 0, 1, bytes[k]);
      return;
    }
    const pa = this.translate(lin, Access.WRITE);
    const slot = this.memory.find(pa);
    if (slot === undefined || slot.readonly) {
      this.postExits.push({ reason: ExitReason.EPT_MISCONFIG, gpa: pa, size, isWrite: true, data: bytes.slice(0, size) });
      return;
    }
    if ((slot.perms & Perm.W) === 0) this.eptViolation(pa, lin, Access.WRITE, slot);
    const m = slot.backing;
    const a = pa - slot.gpa;
    if (this.code.hasCode(Math.floor(pa / 4096))) {
      // Code page: keep writes on this path so each one drops the instructions it overwrites.
      m.set(bytes.subarray(0, size), a);
      this.code.invalidate(pa, size);
      return;
    }
    const e = Math.floor(lin / 4096) & (TLB_SIZE - 1);
    this.wTag[e] = Math.floor(lin / 4096);
    this.wMem[e] = m;
    this.wOff[e] = a - off;
    m.set(bytes.subarray(0, size), a);
  }

  private fromBytes(b: Uint8Array, size: number): number {
    if (size === 8) this.opHi = (b[4] | (b[5] << 8) | (b[6] << 16) | (b[7] << 24)) >>> 0;
    let v = 0;
    for (let k = Math.min(size, 4) - 1; k >= 0; k--) v = v * 256 + b[k];
    return v;
  }

  /** Serve an MMIO read from data the monitor supplied, or stop the instruction to ask for it. */
  private mmioRead(gpa: number, size: number): Uint8Array {
    if (this.mmioIdx < this.mmioReads.length) {
      const d = this.mmioReads[this.mmioIdx++];
      const out = new Uint8Array(8);
      out.set(d.subarray(0, Math.min(size, d.length)));
      return out;
    }
    this.pendingMmio = { gpa, size };
    throw new ExitRequest({ reason: ExitReason.EPT_MISCONFIG, gpa, size, isWrite: false, data: new Uint8Array(size) });
  }

  private eptViolation(gpa: number, linear: number, access: number, slot: MemorySlot): never {
    const bit = access === Access.READ ? 1 : access === Access.WRITE ? 2 : 4;
    // Bits 7 and 8: the linear address is valid and the access was to the final translation.
    const qualification = bit | (slot.perms << 3) | 0x180;
    throw new ExitRequest({
      reason: ExitReason.EPT_VIOLATION,
      gpa,
      linear,
      access: access === Access.READ ? 'read' : access === Access.WRITE ? 'write' : 'fetch',
      qualification,
    });
  }

  /** Page-table access for the walker: RAM only (tables in MMIO cannot be modelled). */
  physRead32(pa: number): number {
    const slot = this.memory.find(pa);
    if (slot === undefined) throw this.internalError(`page table read from unbacked gpa 0x${pa.toString(16)}`);
    const m = slot.backing;
    const a = pa - slot.gpa;
    return (m[a] | (m[a + 1] << 8) | (m[a + 2] << 16) | (m[a + 3] << 24)) >>> 0;
  }

  physWrite32(pa: number, v: number): void {
    const slot = this.memory.find(pa);
    if (slot === undefined || slot.readonly) return;
    const a = pa - slot.gpa;
    for (let k = 0; k < 4; k++) slot.backing[a + k] = v >>> (8 * k);
    if (this.code.hasCode(Math.floor(pa / 4096))) this.code.invalidate(pa, 4);
  }

  internalError(message: string, i?: Insn): ExitRequest {
    const linear = this.ripLinear();
    return new ExitRequest({
      reason: ExitReason.INTERNAL_ERROR,
      message: i ? `cannot execute '${i.text}' at ${this.describeRip()}${message ? `: ${message}` : ''}` : `${message}, at ${this.describeRip()}`,
      ...(i ? { instruction: i.text } : {}),
      linear,
    });
  }

  describeRip(): string {
    const cs = this.seg[Seg.CS];
    const rip = this.bits === 64 ? `0x${BigInt.asUintN(64, BigInt(this.rip)).toString(16)}` : `0x${this.rip.toString(16)}`;
    return this.bits === 64 ? `rip ${rip}` : `${cs.selector.toString(16).padStart(4, '0')}:${rip} (linear 0x${this.ripLinear().toString(16)})`;
  }

  // ---------------------------------------------------------------- fetch and run

  private fetch(): Insn {
    const lin = this.ripLinear();
    const page = Math.floor(lin / 4096);
    if (page !== this.fetchPage) this.loadCodePage(lin, page);
    const insn = this.fetchTable[lin & 4095];
    return insn !== undefined ? insn : this.decodeAt(lin);
  }

  private loadCodePage(lin: number, page: number): void {
    const pa = this.translate(lin, Access.FETCH);
    const slot = this.memory.find(pa);
    if (slot === undefined) throw this.internalError(`instruction fetch from unbacked gpa 0x${pa.toString(16)}`);
    if ((slot.perms & Perm.X) === 0) this.eptViolation(pa, lin, Access.FETCH, slot);
    this.fetchTable = this.code.table(Math.floor(pa / 4096), this.bits);
    this.fetchSlot = slot;
    this.fetchPhys = pa - (lin & 4095);
    this.fetchPage = page;
  }

  private decodeAt(lin: number): Insn {
    const off = lin & 4095;
    const slot = this.fetchSlot as MemorySlot;
    const start = this.fetchPhys - slot.gpa + off;
    const avail = 4096 - off;
    let bytes: Uint8Array;
    let spillFault: unknown;
    if (avail >= 15) bytes = slot.backing.subarray(start, start + 15);
    else {
      bytes = new Uint8Array(15);
      bytes.set(slot.backing.subarray(start, start + avail));
      try {
        for (let k = avail; k < 15; k++) bytes[k] = this.fetchByte(lin + k);
      } catch (e) {
        spillFault = e;
        bytes = bytes.subarray(0, avail);
      }
    }
    const insn = decodeInsn(bytes, this.bits);
    if (insn === undefined) throw spillFault;
    if (off + insn.len <= 4096) this.fetchTable[off] = insn;
    return insn;
  }

  /** One code byte through the full fetch checks (for instructions that cross a page). */
  private fetchByte(lin: number): number {
    const l = this.bits === 64 ? lin % TWO48 : lin >>> 0;
    const pa = this.translate(l, Access.FETCH);
    const slot = this.memory.find(pa);
    if (slot === undefined) throw this.internalError(`instruction fetch from unbacked gpa 0x${pa.toString(16)}`);
    if ((slot.perms & Perm.X) === 0) this.eptViolation(pa, l, Access.FETCH, slot);
    return slot.backing[pa - slot.gpa];
  }

  /**
   * Run until `stopAt` instructions have retired (undefined) or to an exit. Guest exceptions are
   * delivered here; exits found between instructions or set in `stopExit` are returned, those found
   * deeper (memory accesses) leave as a thrown ExitRequest.
   */
  execute(stopAt: number): VmExit | undefined {
    for (;;) {
      try {
        if (this.pendingIo !== undefined) completePendingIo(this);
        while (this.icount < stopAt) {
          if ((this.pendingIrq >= 0 || this.wantWindow) && (this.flags & IF) !== 0 && this.shadowAt !== this.icount) {
            if (this.pendingIrq >= 0) {
              const vector = this.pendingIrq;
              this.pendingIrq = -1;
              deliverEvent(this, vector, EventKind.EXTERNAL, undefined);
            } else return { reason: ExitReason.INTERRUPT_WINDOW };
          }
          if (this.kick) {
            this.kick = false;
            return { reason: ExitReason.EXTERNAL_INTERRUPT };
          }
          const i = this.fetch();
          const next = this.rip + i.len;
          this.nextRip = this.bits === 64 ? next : this.bits === 32 ? next >>> 0 : next & 0xffff;
          this.mmioIdx = 0;
          i.fn(this, i);
          const stopped = this.stopExit;
          if (stopped !== undefined) {
            this.stopExit = undefined;
            return stopped;
          }
          this.rip = this.nextRip;
          this.icount++;
          if (this.mmioReads.length !== 0) this.mmioReads.length = 0;
          if (this.postExits.length !== 0) return this.postExits.shift();
        }
        return undefined;
      } catch (e) {
        if (!(e instanceof GuestFault)) throw e;
        this.mmioReads.length = 0;
        raiseException(this, e);
      }
    }
  }

  /** End of one iteration of a string instruction: later iterations read fresh MMIO data. */
  iterationDone(): void {
    this.mmioReads.length = 0;
    this.mmioIdx = 0;
  }
}
