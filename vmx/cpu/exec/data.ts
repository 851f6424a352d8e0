/** Data movement, stack instructions, condition-driven moves and the flag instructions. */
import { Mnemonic } from 'iced-x86';
import { trunc } from '../alu-flags.js';
import type { Cpu } from '../cpu.js';
import { loadDataSegment } from '../descriptors.js';
import { gp } from '../faults.js';
import { AF, CF, DF, FIXED1, IF, IOPL, PF, POPF_MASK, RF, SF, testCondition, VM, ZF } from '../flags.js';
import { BASE_RIP, type Insn, K } from '../insn.js';
import { Seg } from '../segment.js';
import { memLin, signed, signExtendHi } from './operands.js';
import type { HandlerTable } from './table.js';

const TWO32 = 4294967296;

function mov(c: Cpu, i: Insn): void {
  const lin = memLin(c, i);
  const v = c.rdOp(i, i.k1, i.r1, lin, i.osz);
  c.wrOp(i.k0, i.r0, lin, i.osz, v, c.opHi);
}

/** MOVZX, MOVSX, MOVSXD: `sub` 1 for sign extension. */
function movExtend(c: Cpu, i: Insn): void {
  const lin = memLin(c, i);
  const v = c.rdOp(i, i.k1, i.r1, lin, i.ssz);
  if (i.sub === 0) c.setReg(i.r0, i.osz, v, 0);
  else if (i.osz === 8) c.setReg(i.r0, 8, signed(v, i.ssz) >>> 0, signExtendHi(v, i.ssz));
  else c.setReg(i.r0, i.osz, trunc(signed(v, i.ssz), i.osz));
}

/** LEA: the offset alone, computed exactly on halves and cut to the address then operand size. */
function lea(c: Cpu, i: Insn): void {
  let lo: number;
  let hi: number;
  if (i.base === BASE_RIP) {
    const v = c.nextRip + i.dispHi * TWO32 + i.disp;
    lo = v >>> 0;
    hi = Math.floor(v / TWO32) >>> 0;
  } else {
    lo = i.disp;
    hi = i.dispHi;
    if (i.base >= 0) {
      lo += c.lo[i.base];
      hi += c.hi[i.base];
    }
    if (i.index >= 0) {
      lo += c.lo[i.index] * i.scale;
      hi += c.hi[i.index] * i.scale;
    }
    hi = (hi + Math.floor(lo / TWO32)) >>> 0;
    lo >>>= 0;
  }
  if (i.asz === 2) lo &= 0xffff;
  if (i.asz !== 8) hi = 0;
  c.setReg(i.r0, i.osz, i.osz === 2 ? lo & 0xffff : lo, hi);
}

function xchg(c: Cpu, i: Insn): void {
  const lin = memLin(c, i);
  const a = c.rdOp(i, i.k0, i.r0, lin, i.osz);
  const ah = c.opHi;
  const b = c.rdOp(i, i.k1, i.r1, lin, i.osz);
  const bh = c.opHi;
  c.wrOp(i.k0, i.r0, lin, i.osz, b, bh);
  c.wrOp(i.k1, i.r1, lin, i.osz, a, ah);
}

function setcc(c: Cpu, i: Insn): void {
  c.wrOp(i.k0, i.r0, memLin(c, i), 1, testCondition(i.sub, c.flags) ? 1 : 0);
}

function cmovcc(c: Cpu, i: Insn): void {
  const v = c.rdOp(i, i.k1, i.r1, memLin(c, i), i.osz);
  if (testCondition(i.sub, c.flags)) c.setReg(i.r0, i.osz, v, c.opHi);
  else if (i.osz === 4) c.hi[i.r0] = 0;
}

function push(c: Cpu, i: Insn): void {
  if (i.k0 === K.SEG) {
    c.push(i.osz, c.seg[i.r0].selector);
    return;
  }
  const v = c.rdOp(i, i.k0, i.r0, memLin(c, i), i.osz);
  c.push(i.osz, v, c.opHi);
}

function pop(c: Cpu, i: Insn): void {
  if (i.k0 === K.SEG) {
    const sel = c.read(c.stackLin(0), 2);
    loadDataSegment(c, i.r0, sel);
    c.addSp(i.osz);
    if (i.r0 === Seg.SS) c.shadowAt = c.icount + 1;
    return;
  }
  const v = c.pop(i.osz);
  const vh = c.opHi;
  // A memory destination is addressed with the already incremented stack pointer.
  c.wrOp(i.k0, i.r0, i.k0 === K.MEM ? c.ea(i) : 0, i.osz, v, vh);
}

/** PUSHA/PUSHAD: AX CX DX BX (original SP) BP SI DI. */
function pusha(c: Cpu, i: Insn): void {
  const sp = c.getReg(4, i.osz);
  for (let r = 0; r < 8; r++) c.push(i.osz, r === 4 ? sp : c.getReg(r, i.osz));
}

function popa(c: Cpu, i: Insn): void {
  for (let r = 7; r >= 0; r--) {
    const v = c.pop(i.osz);
    if (r !== 4) c.setReg(r, i.osz, v);
  }
}

function pushf(c: Cpu, i: Insn): void {
  c.push(i.osz, c.flags & ~(VM | RF));
}

/** POPF: which bits load depends on CPL and IOPL, as for the SDM's protected-mode rules. */
function popf(c: Cpu, i: Insn): void {
  const v = c.pop(i.osz);
  let mask = POPF_MASK;
  if (c.cpl > 0) mask &= ~IOPL;
  if (c.cpl > (c.flags & IOPL) >>> 12) mask &= ~IF;
  if (i.osz === 2) mask &= 0xffff;
  c.flags = ((c.flags & ~mask) | (v & mask) | FIXED1) & ~RF;
}

function lahf(c: Cpu): void {
  c.lo[0] = (c.lo[0] & 0xffff00ff) | ((c.flags & (SF | ZF | AF | PF | CF) | FIXED1) << 8);
}

function sahf(c: Cpu): void {
  const m = SF | ZF | AF | PF | CF;
  c.flags = (c.flags & ~m) | ((c.lo[0] >>> 8) & m);
}

function enter(c: Cpu, i: Insn): void {
  const size = i.osz;
  const level = i.imm2 & 31;
  const bpLin = (k: number): number => (c.bits === 64 ? c.canonical((c.hi[5] | 0) * TWO32 + c.lo[5] - k * size, Seg.SS) : (c.seg[Seg.SS].base + trunc(c.lo[5] - k * size, c.stackSize)) >>> 0);
  c.push(size, c.lo[5], c.hi[5]);
  const frameLo = c.lo[4];
  const frameHi = c.hi[4];
  for (let k = 1; k < level; k++) {
    const lin = bpLin(k);
    const v = size === 8 ? c.read64(lin) : c.read(lin, size);
    c.push(size, v, c.opHi);
  }
  if (level > 0) c.push(size, frameLo, frameHi);
  if (c.stackSize === 2) c.setReg(5, 2, frameLo);
  else c.setReg(5, c.stackSize, frameLo, frameHi);
  c.addSp(-(i.imm & 0xffff));
}

function leave(c: Cpu, i: Insn): void {
  if (c.stackSize === 2) c.setReg(4, 2, c.lo[5]);
  else c.setReg(4, c.stackSize, c.lo[5], c.hi[5]);
  const v = c.pop(i.osz);
  c.setReg(5, i.osz, v, c.opHi);
}

/** XLAT: AL = [seg:rBX + AL], the index is AL alone. */
function xlat(c: Cpu, i: Insn): void {
  const off = c.lo[3] + (c.lo[0] & 0xff);
  const base = i.seg < 0 ? 0 : c.seg[i.seg].base;
  const lin = c.bits === 64 ? c.canonical(base + (c.hi[3] | 0) * TWO32 + off, i.seg) : (base + (i.asz === 2 ? off & 0xffff : off >>> 0)) >>> 0;
  c.setReg(0, 1, c.read(lin, 1));
}

const F = { CLC: 0, STC: 1, CMC: 2, CLD: 3, STD: 4, CLI: 5, STI: 6 } as const;

function flagOp(c: Cpu, i: Insn): void {
  switch (i.sub) {
    case F.CLC:
      c.flags &= ~CF;
      return;
    case F.STC:
      c.flags |= CF;
      return;
    case F.CMC:
      c.flags ^= CF;
      return;
    case F.CLD:
      c.flags &= ~DF;
      return;
    case F.STD:
      c.flags |= DF;
      return;
    default:
      if ((c.cr0 & 1) !== 0 && c.cpl > (c.flags & IOPL) >>> 12) throw gp();
      if (i.sub === F.CLI) c.flags &= ~IF;
      else {
        // STI delays interrupts until after the next instruction.
        if ((c.flags & IF) === 0) c.shadowAt = c.icount + 1;
        c.flags |= IF;
      }
  }
}

function nop(): void {}

export const dataHandlers: HandlerTable = [
  [Mnemonic.Mov, mov, 0],
  [Mnemonic.Movzx, movExtend, 0],
  [Mnemonic.Movsx, movExtend, 1],
  [Mnemonic.Movsxd, movExtend, 1],
  [Mnemonic.Lea, lea, 0],
  [Mnemonic.Xchg, xchg, 0],
  [Mnemonic.Push, push, 0],
  [Mnemonic.Pop, pop, 0],
  [Mnemonic.Pusha, pusha, 0],
  [Mnemonic.Pushad, pusha, 0],
  [Mnemonic.Popa, popa, 0],
  [Mnemonic.Popad, popa, 0],
  [Mnemonic.Pushf, pushf, 0],
  [Mnemonic.Pushfd, pushf, 0],
  [Mnemonic.Pushfq, pushf, 0],
  [Mnemonic.Popf, popf, 0],
  [Mnemonic.Popfd, popf, 0],
  [Mnemonic.Popfq, popf, 0],
  [Mnemonic.Lahf, lahf, 0],
  [Mnemonic.Sahf, sahf, 0],
  [Mnemonic.Enter, enter, 0],
  [Mnemonic.Leave, leave, 0],
  [Mnemonic.Xlatb, xlat, 0],
  [Mnemonic.Clc, flagOp, F.CLC],
  [Mnemonic.Stc, flagOp, F.STC],
  [Mnemonic.Cmc, flagOp, F.CMC],
  [Mnemonic.Cld, flagOp, F.CLD],
  [Mnemonic.Std, flagOp, F.STD],
  [Mnemonic.Cli, flagOp, F.CLI],
  [Mnemonic.Sti, flagOp, F.STI],
  [Mnemonic.Nop, nop, 0],
  [Mnemonic.Pause, nop, 0],
  [Mnemonic.Endbr32, nop, 0],
  [Mnemonic.Endbr64, nop, 0],
  [Mnemonic.Lfence, nop, 0],
  [Mnemonic.Mfence, nop, 0],
  [Mnemonic.Sfence, nop, 0],
  [Mnemonic.Wbinvd, nop, 0],
  [Mnemonic.Wait, nop, 0],
  [Mnemonic.Clflush, nop, 0],
  [Mnemonic.Clflushopt, nop, 0],
  [Mnemonic.Invd, nop, 0],
  [Mnemonic.Prefetchnta, nop, 0],
  [Mnemonic.Prefetcht0, nop, 0],
  [Mnemonic.Prefetcht1, nop, 0],
  [Mnemonic.Prefetcht2, nop, 0],
];

/** SETcc and CMOVcc: `sub` is the iced condition code, filled in by the decoder. */
export const conditionalHandlers: HandlerTable = [
  ...[Mnemonic.Seto, Mnemonic.Setno, Mnemonic.Setb, Mnemonic.Setae, Mnemonic.Sete, Mnemonic.Setne, Mnemonic.Setbe, Mnemonic.Seta, Mnemonic.Sets, Mnemonic.Setns, Mnemonic.Setp, Mnemonic.Setnp, Mnemonic.Setl, Mnemonic.Setge, Mnemonic.Setle, Mnemonic.Setg].map((m) => [m, setcc] as const),
  ...[Mnemonic.Cmovo, Mnemonic.Cmovno, Mnemonic.Cmovb, Mnemonic.Cmovae, Mnemonic.Cmove, Mnemonic.Cmovne, Mnemonic.Cmovbe, Mnemonic.Cmova, Mnemonic.Cmovs, Mnemonic.Cmovns, Mnemonic.Cmovp, Mnemonic.Cmovnp, Mnemonic.Cmovl, Mnemonic.Cmovge, Mnemonic.Cmovle, Mnemonic.Cmovg].map((m) => [m, cmovcc] as const),
];
