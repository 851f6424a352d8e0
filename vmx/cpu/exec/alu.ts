/**
 * Arithmetic, logic, shifts and rotates, multiply/divide, bit tests and scans, and the
 * exchange-and-operate instructions. Each family is one handler driven by `Insn.sub`.
 */
import { Mnemonic } from 'iced-x86';
import { Alu, alu, alu64, doubleShift, incDec, incDec64, Shift, shift, shift64, trunc } from '../alu-flags.js';
import type { Cpu } from '../cpu.js';
import { GuestFault, Vec } from '../faults.js';
import { CF, OF, ZF } from '../flags.js';
import { type Insn, K } from '../insn.js';
import { memLin, readBig, signed, signExtendHi, writeBig } from './operands.js';
import type { HandlerTable } from './table.js';

function binary(c: Cpu, i: Insn): void {
  const op = i.sub;
  const lin = memLin(c, i);
  if (i.osz === 8) {
    const a = c.rdOp(i, i.k0, i.r0, lin, 8);
    const ah = c.opHi;
    const b = c.rdOp(i, i.k1, i.r1, lin, 8);
    const r = alu64(c, op, a, ah, b, c.opHi);
    if (op < Alu.CMP) c.wrOp(i.k0, i.r0, lin, 8, r, c.hiOut);
    return;
  }
  const a = c.rdOp(i, i.k0, i.r0, lin, i.osz);
  const r = alu(c, op, a, c.rdOp(i, i.k1, i.r1, lin, i.osz), i.osz);
  if (op < Alu.CMP) c.wrOp(i.k0, i.r0, lin, i.osz, r);
}

const U = { INC: 0, DEC: 1, NEG: 2, NOT: 3 } as const;

function unary(c: Cpu, i: Insn): void {
  const lin = memLin(c, i);
  const size = i.osz;
  const a = c.rdOp(i, i.k0, i.r0, lin, size);
  if (size === 8) {
    const ah = c.opHi;
    let r: number;
    let rh: number;
    if (i.sub === U.NOT) {
      r = ~a >>> 0;
      rh = ~ah >>> 0;
    } else {
      r = i.sub === U.NEG ? alu64(c, Alu.SUB, 0, 0, a, ah) : incDec64(c, a, ah, i.sub === U.INC ? 1 : -1);
      rh = c.hiOut;
    }
    c.wrOp(i.k0, i.r0, lin, 8, r, rh);
    return;
  }
  const r = i.sub === U.NOT ? trunc(~a, size) : i.sub === U.NEG ? alu(c, Alu.SUB, 0, a, size) : incDec(c, a, i.sub === U.INC ? 1 : -1, size);
  c.wrOp(i.k0, i.r0, lin, size, r);
}

function shiftRotate(c: Cpu, i: Insn): void {
  const lin = memLin(c, i);
  const count = i.k1 === K.IMM ? i.imm & 0xff : c.lo[1] & 0xff;
  const a = c.rdOp(i, i.k0, i.r0, lin, i.osz);
  if (i.osz === 8) {
    const r = shift64(c, i.sub, a, c.opHi, count);
    c.wrOp(i.k0, i.r0, lin, 8, r, c.hiOut);
  } else c.wrOp(i.k0, i.r0, lin, i.osz, shift(c, i.sub, a, count, i.osz));
}

function shiftDouble(c: Cpu, i: Insn): void {
  const lin = memLin(c, i);
  const count = i.k2 === K.IMM ? i.imm & 0xff : c.lo[1] & 0xff;
  const dst = readBig(c, i, i.k0, i.r0, lin, i.osz);
  const src = readBig(c, i, i.k1, i.r1, lin, i.osz);
  writeBig(c, i.k0, i.r0, lin, i.osz, doubleShift(c, i.sub === 0, dst, src, count, i.osz));
}

const M = { MUL: 0, IMUL: 1, DIV: 2, IDIV: 3 } as const;

/** One-operand MUL/IMUL/DIV/IDIV on rDX:rAX (AH:AL for bytes), exact through BigInt. */
function mulDiv(c: Cpu, i: Insn): void {
  const size = i.osz;
  const bits = BigInt(size * 8);
  const mask = (1n << bits) - 1n;
  const lin = memLin(c, i);
  let src = readBig(c, i, i.k0, i.r0, lin, size);
  const accReg = (v: number): bigint => (size === 1 ? BigInt((c.lo[0] >>> (8 * v)) & 0xff) : readBig(c, i, K.REG, v === 0 ? 0 : 2, 0, size));
  let lo = accReg(0);
  const signedOp = i.sub === M.IMUL || i.sub === M.IDIV;
  const toSigned = (v: bigint): bigint => BigInt.asIntN(size * 8, v);
  const store = (low: bigint, high: bigint): void => {
    if (size === 1) c.setReg(0, 2, Number(((high & 0xffn) << 8n) | (low & 0xffn)));
    else {
      writeBig(c, K.REG, 0, 0, size, low & mask);
      writeBig(c, K.REG, 2, 0, size, high & mask);
    }
  };
  if (i.sub === M.MUL || i.sub === M.IMUL) {
    const p = signedOp ? toSigned(lo) * toSigned(src) : lo * src;
    const low = BigInt.asUintN(size * 8, p);
    const overflow = signedOp ? toSigned(low) !== p : p >> bits !== 0n;
    store(low, BigInt.asUintN(size * 8, p >> bits));
    c.flags = (c.flags & ~(CF | OF)) | (overflow ? CF | OF : 0);
    return;
  }
  if (src === 0n) throw new GuestFault(Vec.DE, undefined);
  const hiPart = accReg(1);
  let dividend = (hiPart << bits) | lo;
  if (signedOp) {
    dividend = BigInt.asIntN(size * 16, dividend);
    src = toSigned(src);
  }
  const q = dividend / src;
  const r = dividend % src;
  if (signedOp ? toSigned(BigInt.asUintN(size * 8, q)) !== q : q > mask) throw new GuestFault(Vec.DE, undefined);
  lo = BigInt.asUintN(size * 8, q);
  store(lo, BigInt.asUintN(size * 8, r));
}

/** IMUL with two or three operands: only the truncated product is kept; CF=OF say it did not fit. */
function imulTruncating(c: Cpu, i: Insn): void {
  const size = i.osz;
  const lin = memLin(c, i);
  let overflow: boolean;
  if (size === 8) {
    const a = readBig(c, i, i.k1, i.r1, lin, 8);
    const b = i.k2 === K.IMM ? (BigInt(i.immHi) << 32n) | BigInt(i.imm) : readBig(c, i, i.k0, i.r0, lin, 8);
    const p = BigInt.asIntN(64, a) * BigInt.asIntN(64, b);
    overflow = BigInt.asIntN(64, p) !== p;
    writeBig(c, K.REG, i.r0, 0, 8, BigInt.asUintN(64, p));
  } else {
    const a = signed(c.rdOp(i, i.k1, i.r1, lin, size), size);
    const b = signed(i.k2 === K.IMM ? trunc(i.imm, size) : c.getReg(i.r0, size), size);
    const r = size === 4 ? Math.imul(a, b) : signed(trunc(a * b, size), size);
    // For 32 bits a*b may round, but only when it is far outside int32, so the test stays exact.
    overflow = a * b !== r;
    c.setReg(i.r0, size, trunc(r, size));
  }
  c.flags = (c.flags & ~(CF | OF)) | (overflow ? CF | OF : 0);
}

const B = { BT: 0, BTS: 1, BTR: 2, BTC: 3 } as const;

function bitTest(c: Cpu, i: Insn): void {
  const size = i.osz;
  const bits = size * 8;
  let lin = memLin(c, i);
  let bit: number;
  if (i.k1 === K.IMM) bit = i.imm & (bits - 1);
  else {
    const off = size === 8 ? (c.hi[i.r1] | 0) * 4294967296 + c.lo[i.r1] : signed(c.getReg(i.r1, size), size);
    if (i.k0 === K.MEM) {
      // A register bit offset reaches outside the addressed operand.
      lin += Math.floor(off / bits) * size;
      if (c.bits !== 64) lin >>>= 0;
    }
    bit = ((off % bits) + bits) % bits;
  }
  let lo = c.rdOp(i, i.k0, i.r0, lin, size);
  let hi = size === 8 ? c.opHi : 0;
  const inHi = bit >= 32;
  const m = 1 << (bit & 31);
  const set = ((inHi ? hi : lo) & m) !== 0;
  c.flags = (c.flags & ~CF) | (set ? CF : 0);
  if (i.sub === B.BT) return;
  const apply = (v: number): number => (i.sub === B.BTS ? v | m : i.sub === B.BTR ? v & ~m : v ^ m) >>> 0;
  if (inHi) hi = apply(hi);
  else lo = apply(lo);
  c.wrOp(i.k0, i.r0, lin, size, trunc(lo, Math.min(size, 4)), hi);
}

/** BSF (sub 0) / BSR (sub 1): ZF=1 and the destination unchanged for a zero source. */
function bitScan(c: Cpu, i: Insn): void {
  const lin = memLin(c, i);
  const lo = c.rdOp(i, i.k1, i.r1, lin, i.osz);
  const hi = i.osz === 8 ? c.opHi : 0;
  if (lo === 0 && hi === 0) {
    c.flags |= ZF;
    return;
  }
  c.flags &= ~ZF;
  let index: number;
  if (i.sub === 0) index = lo !== 0 ? 31 - Math.clz32(lo & -lo) : 63 - Math.clz32(hi & -hi);
  else index = hi !== 0 ? 63 - Math.clz32(hi) : 31 - Math.clz32(lo);
  c.setReg(i.r0, i.osz, index);
}

function cmpxchg(c: Cpu, i: Insn): void {
  const size = i.osz;
  const lin = memLin(c, i);
  const dst = c.rdOp(i, i.k0, i.r0, lin, size);
  const dh = c.opHi;
  const src = c.rdOp(i, i.k1, i.r1, lin, size);
  const sh = c.opHi;
  const acc = c.rdOp(i, K.REG, 0, 0, size);
  if (size === 8) alu64(c, Alu.CMP, acc, c.opHi, dst, dh);
  else alu(c, Alu.CMP, acc, dst, size);
  if (c.flags & ZF) c.wrOp(i.k0, i.r0, lin, size, src, sh);
  else {
    // The destination is written back even on failure (the locked cycle always writes).
    if (i.k0 === K.MEM) c.wrOp(i.k0, i.r0, lin, size, dst, dh);
    c.setReg(0, size, dst, dh);
  }
}

/** CMPXCHG8B (sub 4) / CMPXCHG16B (sub 8): rDX:rAX against memory, rCX:rBX stored on a match. */
function cmpxchgWide(c: Cpu, i: Insn): void {
  const half = i.sub;
  const lin = c.ea(i);
  if (half === 8 && lin % 16 !== 0) throw new GuestFault(Vec.GP, 0);
  const lo = readBig(c, i, K.MEM, 0, lin, half);
  const hi = readBig(c, i, K.MEM, 0, lin + half, half);
  const reg = (r: number): bigint => readBig(c, i, K.REG, r, 0, half);
  if (lo === reg(0) && hi === reg(2)) {
    writeBig(c, K.MEM, 0, lin, half, reg(3));
    writeBig(c, K.MEM, 0, lin + half, half, reg(1));
    c.flags |= ZF;
  } else {
    // The locked cycle writes the old value back; the accumulator pair receives it.
    writeBig(c, K.MEM, 0, lin, half, lo);
    writeBig(c, K.MEM, 0, lin + half, half, hi);
    writeBig(c, K.REG, 0, 0, half, lo);
    writeBig(c, K.REG, 2, 0, half, hi);
    c.flags &= ~ZF;
  }
}

function xadd(c: Cpu, i: Insn): void {
  const size = i.osz;
  const lin = memLin(c, i);
  const dst = c.rdOp(i, i.k0, i.r0, lin, size);
  const dh = c.opHi;
  const src = c.rdOp(i, i.k1, i.r1, lin, size);
  const sum = size === 8 ? alu64(c, Alu.ADD, dst, dh, src, c.opHi) : alu(c, Alu.ADD, dst, src, size);
  const sumHi = c.hiOut;
  c.wrOp(i.k1, i.r1, lin, size, dst, dh);
  c.wrOp(i.k0, i.r0, lin, size, sum, sumHi);
}

/** CBW/CWDE/CDQE (sub = destination size): sign-extend the lower half of rAX into rAX. */
function extendAcc(c: Cpu, i: Insn): void {
  const size = i.sub;
  const half = size / 2;
  const v = c.getReg(0, half);
  if (size === 8) c.setReg(0, 8, v, signExtendHi(v, 4));
  else c.setReg(0, size, trunc(signed(v, half), size));
}

/** CWD/CDQ/CQO (sub = size): fill rDX with the sign of rAX. */
function extendIntoDx(c: Cpu, i: Insn): void {
  const size = i.sub;
  const negative = size === 8 ? c.hi[0] >>> 31 === 1 : signed(c.getReg(0, size), size) < 0;
  c.setReg(2, size, negative ? 0xffffffff : 0, negative ? 0xffffffff : 0);
}

function bswap(c: Cpu, i: Insn): void {
  const rev = (v: number): number => (((v & 0xff) << 24) | ((v & 0xff00) << 8) | ((v >>> 8) & 0xff00) | (v >>> 24)) >>> 0;
  if (i.osz === 8) c.setReg(i.r0, 8, rev(c.hi[i.r0]), rev(c.lo[i.r0]));
  else c.setReg(i.r0, 4, rev(c.lo[i.r0]));
}

export const aluHandlers: HandlerTable = [
  [Mnemonic.Add, binary, Alu.ADD],
  [Mnemonic.Or, binary, Alu.OR],
  [Mnemonic.Adc, binary, Alu.ADC],
  [Mnemonic.Sbb, binary, Alu.SBB],
  [Mnemonic.And, binary, Alu.AND],
  [Mnemonic.Sub, binary, Alu.SUB],
  [Mnemonic.Xor, binary, Alu.XOR],
  [Mnemonic.Cmp, binary, Alu.CMP],
  [Mnemonic.Test, binary, Alu.TEST],
  [Mnemonic.Inc, unary, U.INC],
  [Mnemonic.Dec, unary, U.DEC],
  [Mnemonic.Neg, unary, U.NEG],
  [Mnemonic.Not, unary, U.NOT],
  [Mnemonic.Rol, shiftRotate, Shift.ROL],
  [Mnemonic.Ror, shiftRotate, Shift.ROR],
  [Mnemonic.Rcl, shiftRotate, Shift.RCL],
  [Mnemonic.Rcr, shiftRotate, Shift.RCR],
  [Mnemonic.Shl, shiftRotate, Shift.SHL],
  [Mnemonic.Sal, shiftRotate, Shift.SHL],
  [Mnemonic.Shr, shiftRotate, Shift.SHR],
  [Mnemonic.Sar, shiftRotate, Shift.SAR],
  [Mnemonic.Shld, shiftDouble, 0],
  [Mnemonic.Shrd, shiftDouble, 1],
  [Mnemonic.Mul, mulDiv, M.MUL],
  [Mnemonic.Div, mulDiv, M.DIV],
  [Mnemonic.Idiv, mulDiv, M.IDIV],
  [Mnemonic.Imul, (c, i) => (i.k1 === K.NONE ? mulDiv(c, i) : imulTruncating(c, i)), M.IMUL],
  [Mnemonic.Bt, bitTest, B.BT],
  [Mnemonic.Bts, bitTest, B.BTS],
  [Mnemonic.Btr, bitTest, B.BTR],
  [Mnemonic.Btc, bitTest, B.BTC],
  [Mnemonic.Bsf, bitScan, 0],
  [Mnemonic.Bsr, bitScan, 1],
  [Mnemonic.Cmpxchg, cmpxchg, 0],
  [Mnemonic.Xadd, xadd, 0],
  [Mnemonic.Cmpxchg8b, cmpxchgWide, 4],
  [Mnemonic.Cmpxchg16b, cmpxchgWide, 8],
  [Mnemonic.Cbw, extendAcc, 2],
  [Mnemonic.Cwde, extendAcc, 4],
  [Mnemonic.Cdqe, extendAcc, 8],
  [Mnemonic.Cwd, extendIntoDx, 2],
  [Mnemonic.Cdq, extendIntoDx, 4],
  [Mnemonic.Cqo, extendIntoDx, 8],
  [Mnemonic.Bswap, bswap, 0],
];
