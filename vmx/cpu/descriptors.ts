/**
 * Segment loading: real-mode selector arithmetic and protected-mode descriptor tables (GDT/LDT),
 * with the checks small kernels rely on (null selectors, limits, present bits) and the accessed
 * bit written back as hardware does. Call gates, task switches and conforming-code privilege
 * rules are not modelled.
 */
import type { Cpu } from './cpu.js';
import { GuestFault, Vec } from './faults.js';
import type { Insn } from './insn.js';
import { Seg, type Segment } from './segment.js';

/** The 8-byte descriptor a selector names (16-byte system descriptors give their high qword in `base63`). */
export interface Descriptor {
  lo: number;
  hi: number;
  /** Address of the descriptor, for the accessed bit. */
  addr: number;
}

export function readDescriptor(c: Cpu, selector: number, vector: number = Vec.GP): Descriptor {
  const ldt = (selector & 4) !== 0;
  const tableLimit = ldt ? c.seg[Seg.LDTR].limit : c.gdtLimit;
  const index = selector & 0xfff8;
  if (index + 7 > tableLimit) throw new GuestFault(vector, selector & 0xfffc);
  // GDTR holds a linear address already; the LDT base is a segment base value.
  const addr = ldt ? c.systemLinear(c.seg[Seg.LDTR].base, index) : c.efer & 0x400 ? c.gdtBase + index : (c.gdtBase + index) >>> 0;
  return { lo: c.read(addr, 4), hi: c.read(addr + 4, 4), addr };
}

/** Fill a segment cache from descriptor words (base bits 32..63 from `upper` for 16-byte system descriptors). */
export function applyDescriptor(s: Segment, selector: number, lo: number, hi: number, upper = 0): void {
  s.selector = selector;
  // Bases above 2^63 are kept as their signed (canonical) value, exact in a double.
  s.base = (lo >>> 16) + (hi & 0xff) * 0x10000 + (hi >>> 24) * 0x1000000 + (upper | 0) * 4294967296;
  const g = (hi >>> 23) & 1;
  const limit = (lo & 0xffff) | (hi & 0xf0000);
  s.limit = g ? limit * 4096 + 0xfff : limit;
  s.type = (hi >>> 8) & 0xf;
  s.s = (hi >>> 12) & 1;
  s.dpl = (hi >>> 13) & 3;
  s.present = (hi >>> 15) & 1;
  s.avl = (hi >>> 20) & 1;
  s.l = (hi >>> 21) & 1;
  s.db = (hi >>> 22) & 1;
  s.g = g;
  s.unusable = 0;
}

function setAccessed(c: Cpu, d: Descriptor): void {
  if ((d.hi & 0x100) === 0) c.write(d.addr + 5, 1, ((d.hi >>> 8) & 0xff) | 1);
}

/** Real mode (and virtual-8086 style) load: base = selector * 16, the rest of the cache kept. */
function loadReal(s: Segment, selector: number): void {
  s.selector = selector;
  s.base = selector * 16;
  s.unusable = 0;
  s.present = 1;
}

/**
 * MOV/POP to a segment register, LDS-style loads, and the data half of far transfers.
 * `index` is a Seg value other than CS (CS goes through loadCodeSegment).
 */
export function loadDataSegment(c: Cpu, index: number, selector: number): void {
  const s = c.seg[index];
  if ((c.cr0 & 1) === 0) {
    loadReal(s, selector);
    if (index === Seg.SS) c.updateMode();
    return;
  }
  if ((selector & 0xfffc) === 0) {
    // A null selector is legal for data segments (and for SS in 64-bit mode at CPL < 3).
    if (index === Seg.SS && !(c.bits === 64 && c.cpl < 3)) throw new GuestFault(Vec.GP, 0);
    s.selector = selector;
    s.unusable = 1;
    s.present = 0;
    if (c.bits !== 64 || index < Seg.FS) s.base = 0;
    return;
  }
  const d = readDescriptor(c, selector);
  const type = (d.hi >>> 8) & 0xf;
  const isSystem = ((d.hi >>> 12) & 1) === 0;
  const code = (type & 8) !== 0;
  if (isSystem) throw new GuestFault(Vec.GP, selector & 0xfffc);
  if (index === Seg.SS ? code || (type & 2) === 0 : code && (type & 2) === 0) throw new GuestFault(Vec.GP, selector & 0xfffc);
  if (((d.hi >>> 15) & 1) === 0) throw new GuestFault(index === Seg.SS ? Vec.SS : Vec.NP, selector & 0xfffc);
  setAccessed(c, d);
  // In 64-bit mode too, an FS/GS selector load takes the 32-bit descriptor base (WRMSR sets wider ones).
  applyDescriptor(s, selector, d.lo, d.hi | 0x100);
  if (index === Seg.SS) c.updateMode();
}

/**
 * Load CS for a far transfer at the current privilege level, switching code size as the
 * descriptor says. `jump` is the far JMP/CALL doing it: a gate or TSS selector there would need
 * a call-gate transfer or a task switch, which end the run as unmodelled instead of a wrong #GP.
 */
export function loadCodeSegment(c: Cpu, selector: number, jump?: Insn): void {
  const cs = c.seg[Seg.CS];
  if ((c.cr0 & 1) === 0) {
    loadReal(cs, selector);
    c.updateMode();
    return;
  }
  if ((selector & 0xfffc) === 0) throw new GuestFault(Vec.GP, 0);
  const d = readDescriptor(c, selector);
  const type = (d.hi >>> 8) & 0xf;
  const system = ((d.hi >>> 12) & 1) === 0;
  if (system && jump !== undefined && [1, 4, 5, 9, 12].includes(type)) throw c.internalError('far transfers through call gates, task gates or TSSs are not modelled', jump);
  if (system || (type & 8) === 0) throw new GuestFault(Vec.GP, selector & 0xfffc);
  if (((d.hi >>> 15) & 1) === 0) throw new GuestFault(Vec.NP, selector & 0xfffc);
  setAccessed(c, d);
  const dpl = (d.hi >>> 13) & 3;
  applyDescriptor(cs, selector, d.lo, d.hi | 0x100);
  // CPL follows the RPL of the new CS (same-privilege transfers and interrupt entry only).
  cs.selector = (selector & 0xfffc) | ((type & 4) !== 0 ? c.cpl : dpl);
  c.updateMode();
}

/** LLDT / LTR: system descriptors, 16 bytes in long mode. */
export function loadSystemSegment(c: Cpu, index: number, selector: number): void {
  const s = c.seg[index];
  if ((selector & 0xfffc) === 0) {
    if (index === Seg.TR) throw new GuestFault(Vec.GP, 0);
    s.selector = selector;
    s.unusable = 1;
    return;
  }
  if (selector & 4) throw new GuestFault(Vec.GP, selector & 0xfffc);
  const d = readDescriptor(c, selector);
  const type = (d.hi >>> 8) & 0xf;
  const ok = ((d.hi >>> 12) & 1) === 0 && (index === Seg.LDTR ? type === 2 : type === 1 || type === 9);
  if (!ok) throw new GuestFault(Vec.GP, selector & 0xfffc);
  if (((d.hi >>> 15) & 1) === 0) throw new GuestFault(Vec.NP, selector & 0xfffc);
  const upper = c.efer & 0x400 ? c.read(d.addr + 8, 4) : 0;
  if (index === Seg.TR) {
    // LTR marks the TSS busy in the GDT.
    c.write(d.addr + 5, 1, ((d.hi >>> 8) & 0xff) | 2);
    applyDescriptor(s, selector, d.lo, d.hi | 0x200, upper);
  } else applyDescriptor(s, selector, d.lo, d.hi, upper);
}
