/** Jumps, calls, returns, loops, software interrupts and IRET. */
import { Mnemonic } from 'iced-x86';
import type { Cpu } from '../cpu.js';
import { loadCodeSegment, loadDataSegment } from '../descriptors.js';
import { GuestFault, gp, Vec } from '../faults.js';
import { FIXED1, IF, IOPL, NT, OF, POPF_MASK, RF, testCondition, VIF, VIP, VM, ZF } from '../flags.js';
import { deliverEvent, EventKind } from '../interrupts.js';
import { type Insn, K } from '../insn.js';
import { Seg } from '../segment.js';
import { memLin } from './operands.js';
import type { HandlerTable } from './table.js';

const TWO32 = 4294967296;
const CANON = 2 ** 47;

/** Set the next RIP to `target`, cut to the operand size (16/32) or checked for canonical form (64). */
function branchTo(c: Cpu, target: number, size: number): void {
  if (size === 8) {
    if (target < -CANON || target >= CANON) throw gp();
    c.nextRip = target;
  } else c.nextRip = size === 4 ? target >>> 0 : target & 0xffff;
}

/** A near target read from a register or memory operand, as a signed number for 64-bit ones. */
function nearTarget(c: Cpu, i: Insn): number {
  const lo = c.rdOp(i, i.k0, i.r0, memLin(c, i), i.osz);
  return i.osz === 8 ? (c.opHi | 0) * TWO32 + lo : lo;
}

/** Push a return RIP of the operand size. */
function pushRip(c: Cpu, size: number, rip: number): void {
  c.push(size, rip >>> 0, Math.floor(rip / TWO32) >>> 0);
}

function jmp(c: Cpu, i: Insn): void {
  branchTo(c, i.k0 === K.NONE ? c.nextRip + i.rel : nearTarget(c, i), i.osz);
}

function jcc(c: Cpu, i: Insn): void {
  if (testCondition(i.sub, c.flags)) branchTo(c, c.nextRip + i.rel, i.osz);
}

function call(c: Cpu, i: Insn): void {
  const target = i.k0 === K.NONE ? c.nextRip + i.rel : nearTarget(c, i);
  pushRip(c, i.osz, c.nextRip);
  branchTo(c, target, i.osz);
}

function ret(c: Cpu, i: Insn): void {
  const lo = c.pop(i.osz);
  branchTo(c, i.osz === 8 ? (c.opHi | 0) * TWO32 + lo : lo, i.osz);
  if (i.k0 === K.IMM) c.addSp(i.imm & 0xffff);
}

/** Far pointer operand: immediate ptr16:16/32 or m16:16/32/64 (offset first, selector after). */
function farPointer(c: Cpu, i: Insn): [number, number] {
  if (i.k0 !== K.MEM) return [i.farSel, i.farOff];
  const lin = c.ea(i);
  const size = i.osz;
  const lo = size === 8 ? c.read64(lin) : c.read(lin, size);
  const off = size === 8 ? (c.opHi | 0) * TWO32 + lo : lo;
  return [c.read(lin + size, 2), off];
}

function jmpFar(c: Cpu, i: Insn): void {
  const [sel, off] = farPointer(c, i);
  loadCodeSegment(c, sel, i);
  c.nextRip = c.bits === 64 ? off : c.bits === 32 ? off >>> 0 : off & 0xffff;
}

function callFar(c: Cpu, i: Insn): void {
  const [sel, off] = farPointer(c, i);
  const oldCs = c.seg[Seg.CS].selector;
  const oldRip = c.nextRip;
  loadCodeSegment(c, sel, i);
  c.push(i.osz, oldCs);
  pushRip(c, i.osz, oldRip);
  c.nextRip = c.bits === 64 ? off : c.bits === 32 ? off >>> 0 : off & 0xffff;
}

/** RETF: same privilege, or to an outer ring popping SS:rSP as well. */
function retFar(c: Cpu, i: Insn): void {
  const size = i.osz;
  const ripLo = size === 8 ? c.read64(c.stackLin(0)) : c.read(c.stackLin(0), size);
  const rip = size === 8 ? (c.opHi | 0) * TWO32 + ripLo : ripLo;
  const sel = c.read(c.stackLin(size), 2);
  const outer = (c.cr0 & 1) !== 0 && (sel & 3) > c.cpl;
  const imm = i.k0 === K.IMM ? i.imm & 0xffff : 0;
  let newSp = 0;
  let newSpHi = 0;
  let newSs = 0;
  if (outer) {
    newSp = size === 8 ? c.read64(c.stackLin(2 * size + imm)) : c.read(c.stackLin(2 * size + imm), size);
    newSpHi = c.opHi;
    newSs = c.read(c.stackLin(3 * size + imm), 2);
  }
  loadCodeSegment(c, sel);
  if (outer) {
    c.seg[Seg.CS].selector = sel;
    loadDataSegment(c, Seg.SS, newSs);
    c.setReg(4, size === 8 ? 8 : c.stackSize, newSp, size === 8 ? newSpHi : 0);
    c.addSp(imm);
  } else c.addSp(2 * size + imm);
  c.nextRip = c.bits === 64 ? rip : c.bits === 32 ? rip >>> 0 : rip & 0xffff;
}

/** LOOP (sub 0), LOOPE (1), LOOPNE (2) on rCX of the address size; no flags change. */
function loop(c: Cpu, i: Insn): void {
  let count: number;
  if (i.asz === 8) {
    c.lo[1] -= 1;
    if (c.lo[1] === 0xffffffff) c.hi[1] -= 1;
    count = c.lo[1] | c.hi[1];
  } else if (i.asz === 4) {
    c.setReg(1, 4, (c.lo[1] - 1) >>> 0);
    count = c.lo[1];
  } else {
    c.setReg(1, 2, c.lo[1] - 1);
    count = c.lo[1] & 0xffff;
  }
  const zf = (c.flags & ZF) !== 0;
  if (count !== 0 && (i.sub === 0 || (i.sub === 1 ? zf : !zf))) branchTo(c, c.nextRip + i.rel, i.osz);
}

function jcxz(c: Cpu, i: Insn): void {
  const zero = i.asz === 8 ? (c.lo[1] | c.hi[1]) === 0 : i.asz === 4 ? c.lo[1] === 0 : (c.lo[1] & 0xffff) === 0;
  if (zero) branchTo(c, c.nextRip + i.rel, i.osz);
}

/** INT n (sub -1: vector from the immediate), INT3 (3), INTO (4, when OF=1). */
function softInt(c: Cpu, i: Insn): void {
  if (i.sub === Vec.OF && (c.flags & OF) === 0) return;
  deliverEvent(c, i.sub < 0 ? i.imm & 0xff : i.sub, EventKind.SOFTWARE, undefined);
}

/**
 * IRET/IRETD/IRETQ. Real mode pops IP, CS, FLAGS; protected mode adds SS:ESP on a return to an
 * outer ring; 64-bit mode always pops SS:RSP. Task returns (NT=1) and VM86 are not modelled.
 */
function iret(c: Cpu, i: Insn): void {
  const size = i.osz;
  const at = (k: number): number => {
    const lin = c.stackLin(k * size);
    const lo = size === 8 ? c.read64(lin) : c.read(lin, size);
    return size === 8 ? (c.opHi | 0) * TWO32 + lo : lo;
  };
  const rip = at(0);
  const cs = at(1) & 0xffff;
  const flags = at(2);
  if ((c.cr0 & 1) === 0) {
    c.addSp(3 * size);
    loadCodeSegment(c, cs);
    const mask = size === 2 ? 0xffff & POPF_MASK : POPF_MASK;
    c.flags = (c.flags & ~mask) | (flags & mask) | FIXED1;
    c.nextRip = size === 2 ? rip & 0xffff : rip >>> 0;
    return;
  }
  if (c.flags & NT) throw c.internalError('task return (IRET with NT=1) is not modelled', i);
  if ((flags & VM) !== 0 && c.cpl === 0 && c.bits !== 64) throw c.internalError('IRET to virtual-8086 mode is not modelled', i);
  const outer = c.bits === 64 || (cs & 3) > c.cpl;
  const sp = outer ? at(3) : 0;
  const ss = outer ? at(4) & 0xffff : 0;
  // Unlike POPF, IRET also restores RF, VIF and VIP.
  let mask = POPF_MASK | RF | VIF | VIP;
  if (c.cpl > 0) mask &= ~IOPL;
  if (c.cpl > (c.flags & IOPL) >>> 12) mask &= ~IF;
  if (size === 2) mask &= 0xffff;
  const cpl = c.cpl;
  loadCodeSegment(c, cs);
  c.seg[Seg.CS].selector = cs;
  if (outer) {
    if ((ss & 0xfffc) === 0 && c.bits === 64 && (cs & 3) < 3) {
      const s = c.seg[Seg.SS];
      s.selector = ss;
      s.unusable = 1;
      s.dpl = cs & 3;
      c.updateMode();
    } else loadDataSegment(c, Seg.SS, ss);
    if (size === 8 || c.bits === 64) c.setReg(4, 8, sp >>> 0, Math.floor(sp / TWO32) >>> 0);
    else c.setReg(4, c.stackSize === 2 ? 2 : 4, sp >>> 0);
  } else c.addSp(3 * size);
  c.flags = (c.flags & ~mask) | (flags & mask) | FIXED1;
  if (cpl !== c.cpl) c.updateMode();
  c.nextRip = c.bits === 64 ? rip : size === 2 ? rip & 0xffff : rip >>> 0;
  if (c.bits === 64 && (rip < -CANON || rip >= CANON)) throw new GuestFault(Vec.GP, 0);
}

export const controlHandlers: HandlerTable = [
  [Mnemonic.Jmp, (c, i) => (i.far ? jmpFar(c, i) : jmp(c, i)), 0],
  [Mnemonic.Call, (c, i) => (i.far ? callFar(c, i) : call(c, i)), 0],
  [Mnemonic.Ret, ret, 0],
  [Mnemonic.Retf, retFar, 0],
  [Mnemonic.Loop, loop, 0],
  [Mnemonic.Loope, loop, 1],
  [Mnemonic.Loopne, loop, 2],
  [Mnemonic.Jcxz, jcxz, 0],
  [Mnemonic.Jecxz, jcxz, 0],
  [Mnemonic.Jrcxz, jcxz, 0],
  [Mnemonic.Int, softInt, -1],
  [Mnemonic.Int3, softInt, Vec.BP],
  [Mnemonic.Into, softInt, Vec.OF],
  [Mnemonic.Iret, iret, 0],
  [Mnemonic.Iretd, iret, 0],
  [Mnemonic.Iretq, iret, 0],
  ...[Mnemonic.Jo, Mnemonic.Jno, Mnemonic.Jb, Mnemonic.Jae, Mnemonic.Je, Mnemonic.Jne, Mnemonic.Jbe, Mnemonic.Ja, Mnemonic.Js, Mnemonic.Jns, Mnemonic.Jp, Mnemonic.Jnp, Mnemonic.Jl, Mnemonic.Jge, Mnemonic.Jle, Mnemonic.Jg].map((m) => [m, jcc] as const),
];
