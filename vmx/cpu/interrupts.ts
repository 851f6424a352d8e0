/**
 * Event delivery: exceptions, external interrupts and INT n through the real-mode IVT, the
 * protected-mode IDT (16/32-bit interrupt and trap gates, with a TSS stack switch on a
 * privilege change) and the long-mode IDT (with IST). A fault while delivering becomes a
 * double fault by the SDM's class table; a fault while delivering a double fault is a triple
 * fault, which stops the run. Task gates are not modelled.
 */
import { ExitReason } from '../exits.js';
import type { Cpu } from './cpu.js';
import { applyDescriptor, readDescriptor } from './descriptors.js';
import { ExitRequest, GuestFault, Vec } from './faults.js';
import { AC, IF, NT, RF, TF, VM } from './flags.js';
import { Seg } from './segment.js';

export const EventKind = { EXCEPTION: 0, EXTERNAL: 1, SOFTWARE: 2 } as const;

const CONTRIBUTORY = new Set<number>([Vec.DE, Vec.TS, Vec.NP, Vec.SS, Vec.GP]);

/** Deliver a fault raised by the instruction at RIP, escalating to #DF and triple fault. */
export function raiseException(c: Cpu, f: GuestFault): void {
  try {
    deliverEvent(c, f.vector, EventKind.EXCEPTION, f.errorCode);
  } catch (e) {
    if (!(e instanceof GuestFault)) throw e;
    if (f.vector === Vec.DF) throw new ExitRequest({ reason: ExitReason.TRIPLE_FAULT });
    // SDM table "Conditions for Generating a Double Fault"; other pairs deliver the second serially.
    const contributory = CONTRIBUTORY.has(e.vector);
    const double = (CONTRIBUTORY.has(f.vector) && contributory) || (f.vector === Vec.PF && (contributory || e.vector === Vec.PF));
    raiseException(c, double ? new GuestFault(Vec.DF, 0) : e);
  }
}

/**
 * Deliver vector `v`. Exceptions and external interrupts save the current RIP (faults restart
 * the instruction; an external interrupt arrives at an instruction boundary); INT n saves the
 * next instruction's.
 */
export function deliverEvent(c: Cpu, v: number, kind: number, errorCode: number | undefined): void {
  const returnRip = kind === EventKind.SOFTWARE ? c.nextRip : c.rip;
  const ext = kind === EventKind.SOFTWARE ? 0 : 1;
  if ((c.cr0 & 1) === 0) deliverReal(c, v, returnRip);
  else if (c.efer & 0x400) deliverLong(c, v, kind, errorCode, returnRip, ext);
  else deliverProtected(c, v, kind, errorCode, returnRip, ext);
  c.rip = c.nextRip;
}

function deliverReal(c: Cpu, v: number, returnRip: number): void {
  if (v * 4 + 3 > c.idtLimit) throw new GuestFault(Vec.GP, v * 8 + 2);
  const entry = (c.idtBase + v * 4) >>> 0;
  const ip = c.read(entry, 2);
  const cs = c.read(entry + 2, 2);
  c.push(2, c.flags & 0xffff);
  c.push(2, c.seg[Seg.CS].selector);
  c.push(2, returnRip & 0xffff);
  c.flags &= ~(IF | TF | AC);
  const s = c.seg[Seg.CS];
  s.selector = cs;
  s.base = cs * 16;
  c.nextRip = ip;
}

function gateFault(v: number, ext: number): GuestFault {
  return new GuestFault(Vec.GP, v * 8 + 2 + ext);
}

function deliverProtected(c: Cpu, v: number, kind: number, errorCode: number | undefined, returnRip: number, ext: number): void {
  if (v * 8 + 7 > c.idtLimit) throw gateFault(v, ext);
  const entry = (c.idtBase + v * 8) >>> 0;
  const lo = c.read(entry, 4);
  const hi = c.read(entry + 4, 4);
  const type = (hi >>> 8) & 0x1f;
  if (kind === EventKind.SOFTWARE && ((hi >>> 13) & 3) < c.cpl) throw gateFault(v, ext);
  if (((hi >>> 15) & 1) === 0) throw new GuestFault(Vec.NP, v * 8 + 2 + ext);
  if (type === 0x5) throw c.internalError(`vector ${v} goes through a task gate, and task switches are not modelled`);
  const gate32 = type === 0xe || type === 0xf;
  if (!gate32 && type !== 0x6 && type !== 0x7) throw gateFault(v, ext);
  const selector = lo >>> 16;
  const offset = gate32 ? ((lo & 0xffff) | (hi & 0xffff0000)) >>> 0 : lo & 0xffff;
  const d = readDescriptor(c, selector);
  if (((d.hi >>> 15) & 1) === 0) throw new GuestFault(Vec.NP, (selector & 0xfffc) + ext);
  const dpl = (d.hi >>> 8) & 4 ? c.cpl : (d.hi >>> 13) & 3;
  const size = gate32 ? 4 : 2;
  const oldFlags = c.flags;
  const oldCs = c.seg[Seg.CS].selector;
  if (dpl < c.cpl) {
    // Inner-privilege entry: the new stack comes from the 32-bit TSS.
    const tss = c.seg[Seg.TR].base;
    const esp = c.read((tss + 4 + dpl * 8) >>> 0, 4);
    const ss = c.read((tss + 8 + dpl * 8) >>> 0, 2);
    const oldSs = c.seg[Seg.SS].selector;
    const oldEsp = c.lo[4];
    const sd = readDescriptor(c, ss, Vec.TS);
    applyDescriptor(c.seg[Seg.SS], ss, sd.lo, sd.hi);
    c.updateMode();
    c.lo[4] = esp;
    c.push(size, oldSs);
    c.push(size, oldEsp);
  }
  c.push(size, oldFlags);
  c.push(size, oldCs);
  c.push(size, returnRip);
  if (errorCode !== undefined) c.push(size, errorCode);
  applyDescriptor(c.seg[Seg.CS], (selector & 0xfffc) | dpl, d.lo, d.hi);
  c.flags &= ~(TF | NT | RF | VM | (type & 1 ? 0 : IF));
  c.updateMode();
  c.nextRip = offset;
}

function deliverLong(c: Cpu, v: number, kind: number, errorCode: number | undefined, returnRip: number, ext: number): void {
  if (v * 16 + 15 > c.idtLimit) throw gateFault(v, ext);
  const entry = c.idtBase + v * 16;
  const lo = c.read(entry, 4);
  const hi = c.read(entry + 4, 4);
  const upper = c.read(entry + 8, 4);
  const type = (hi >>> 8) & 0x1f;
  if (kind === EventKind.SOFTWARE && ((hi >>> 13) & 3) < c.cpl) throw gateFault(v, ext);
  if (((hi >>> 15) & 1) === 0) throw new GuestFault(Vec.NP, v * 8 + 2 + ext);
  if (type !== 0xe && type !== 0xf) throw gateFault(v, ext);
  const selector = lo >>> 16;
  const offset = (upper | 0) * 4294967296 + (((lo & 0xffff) | (hi & 0xffff0000)) >>> 0);
  const d = readDescriptor(c, selector);
  if (((d.hi >>> 15) & 1) === 0) throw new GuestFault(Vec.NP, (selector & 0xfffc) + ext);
  if (((d.hi >>> 21) & 1) === 0) throw new GuestFault(Vec.GP, (selector & 0xfffc) + ext);
  const dpl = (d.hi >>> 13) & 3;
  const ist = hi & 7;
  const oldSs = c.seg[Seg.SS].selector;
  const oldRspLo = c.lo[4];
  const oldRspHi = c.hi[4];
  const oldFlags = c.flags;
  const oldCs = c.seg[Seg.CS].selector;
  const tss = c.seg[Seg.TR].base;
  if (ist !== 0 || dpl < c.cpl) {
    const at = c.systemLinear(tss, ist !== 0 ? 0x24 + (ist - 1) * 8 : 4 + dpl * 8);
    c.lo[4] = c.read(at, 4);
    c.hi[4] = c.read(at + 4, 4);
  }
  if (dpl < c.cpl) {
    const ss = c.seg[Seg.SS];
    ss.selector = dpl;
    ss.unusable = 1;
    ss.dpl = dpl;
  }
  // The frame is 8-byte pushes onto a 16-byte aligned stack.
  c.lo[4] &= ~0xf;
  applyDescriptor(c.seg[Seg.CS], (selector & 0xfffc) | dpl, d.lo, d.hi);
  c.updateMode();
  c.push(8, oldSs);
  c.push(8, oldRspLo, oldRspHi);
  c.push(8, oldFlags);
  c.push(8, oldCs);
  c.push(8, returnRip >>> 0, Math.floor(returnRip / 4294967296) >>> 0);
  if (errorCode !== undefined) c.push(8, errorCode);
  c.flags &= ~(TF | NT | RF | VM | (type & 1 ? 0 : IF));
  c.nextRip = offset;
}
