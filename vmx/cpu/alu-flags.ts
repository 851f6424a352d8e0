/**
 * Integer ALU with exact RFLAGS. Sizes of 8, 16 and 32 bits work on unsigned numbers; 64-bit
 * operations work on pairs of unsigned 32-bit halves so no value ever leaves the exact range of
 * a double. One function per operation family with the operation picked from a table index,
 * so the decoder maps ADD/OR/ADC/SBB/AND/SUB/XOR/CMP/TEST onto the same code.
 *
 * Flags the SDM calls undefined get fixed, documented values so runs are deterministic:
 * logic ops clear AF; shifts clear AF and compute OF as for a count of 1.
 */
import { AF, CF, OF, PARITY, SF, STATUS, ZF } from './flags.js';

/** ALU operations, in the x86 /digit order of opcodes 0x80..0x83. */
export const Alu = { ADD: 0, OR: 1, ADC: 2, SBB: 3, AND: 4, SUB: 5, XOR: 6, CMP: 7, TEST: 8 } as const;
/** Shift/rotate operations, in the /digit order of opcodes 0xC0/0xD0..0xD3 (SAL = SHL). */
export const Shift = { ROL: 0, ROR: 1, RCL: 2, RCR: 3, SHL: 4, SHR: 5, SAR: 7 } as const;

export const MASK = [0, 0xff, 0xffff, 0, 0xffffffff] as const;
/** Sign bit by size in bytes (1, 2, 4). */
export const SIGN = [0, 0x80, 0x8000, 0, 0x80000000] as const;

/** Anything that holds RFLAGS and a spare slot for the high half of 64-bit results. */
export interface FlagState {
  flags: number;
  /** High 32 bits of the last 64-bit result (results return the low half). */
  hiOut: number;
}

/** Truncate to the operand size as an unsigned number. */
export const trunc = (v: number, size: number): number => (size === 4 ? v >>> 0 : v & MASK[size]);

function setStatus(s: FlagState, cf: number, of: number, af: number, rlo: number, zero: boolean, neg: boolean): void {
  s.flags = (s.flags & ~STATUS) | cf | (of !== 0 ? OF : 0) | (af & AF) | PARITY[rlo & 0xff] | (zero ? ZF : 0) | (neg ? SF : 0);
}

/** Binary ALU op on 1/2/4-byte unsigned operands; returns the result (also for CMP/TEST, unused). */
export function alu(s: FlagState, op: number, a: number, b: number, size: number): number {
  const sign = SIGN[size];
  let r: number;
  switch (op) {
    case Alu.ADD:
    case Alu.ADC: {
      const sum = a + b + (op === Alu.ADC ? s.flags & CF : 0);
      r = trunc(sum, size);
      setStatus(s, sum > MASK[size] ? CF : 0, (a ^ r) & (b ^ r) & sign, a ^ b ^ r, r, r === 0, (r & sign) !== 0);
      return r;
    }
    case Alu.SUB:
    case Alu.SBB:
    case Alu.CMP: {
      const diff = a - b - (op === Alu.SBB ? s.flags & CF : 0);
      r = trunc(diff, size);
      setStatus(s, diff < 0 ? CF : 0, (a ^ b) & (a ^ r) & sign, a ^ b ^ r, r, r === 0, (r & sign) !== 0);
      return r;
    }
    case Alu.AND:
    case Alu.TEST:
      r = trunc(a & b, size);
      break;
    case Alu.OR:
      r = trunc(a | b, size);
      break;
    default:
      r = trunc(a ^ b, size);
      break;
  }
  setStatus(s, 0, 0, 0, r, r === 0, (r & sign) !== 0);
  return r;
}

/** Binary ALU op on 64-bit operands given as halves; returns the low half, high half in `s.hiOut`. */
export function alu64(s: FlagState, op: number, alo: number, ahi: number, blo: number, bhi: number): number {
  let rlo: number;
  let rhi: number;
  switch (op) {
    case Alu.ADD:
    case Alu.ADC: {
      const lo = alo + blo + (op === Alu.ADC ? s.flags & CF : 0);
      rlo = lo >>> 0;
      const hi = ahi + bhi + (lo > 0xffffffff ? 1 : 0);
      rhi = hi >>> 0;
      setStatus(s, hi > 0xffffffff ? CF : 0, ((ahi ^ rhi) & (bhi ^ rhi)) >>> 31, alo ^ blo ^ rlo, rlo, (rlo | rhi) === 0, rhi >>> 31 === 1);
      s.hiOut = rhi;
      return rlo;
    }
    case Alu.SUB:
    case Alu.SBB:
    case Alu.CMP: {
      const lo = alo - blo - (op === Alu.SBB ? s.flags & CF : 0);
      rlo = lo >>> 0;
      const hi = ahi - bhi - (lo < 0 ? 1 : 0);
      rhi = hi >>> 0;
      setStatus(s, hi < 0 ? CF : 0, ((ahi ^ bhi) & (ahi ^ rhi)) >>> 31, alo ^ blo ^ rlo, rlo, (rlo | rhi) === 0, rhi >>> 31 === 1);
      s.hiOut = rhi;
      return rlo;
    }
    case Alu.AND:
    case Alu.TEST:
      rlo = (alo & blo) >>> 0;
      rhi = (ahi & bhi) >>> 0;
      break;
    case Alu.OR:
      rlo = (alo | blo) >>> 0;
      rhi = (ahi | bhi) >>> 0;
      break;
    default:
      rlo = (alo ^ blo) >>> 0;
      rhi = (ahi ^ bhi) >>> 0;
      break;
  }
  setStatus(s, 0, 0, 0, rlo, (rlo | rhi) === 0, rhi >>> 31 === 1);
  s.hiOut = rhi;
  return rlo;
}

/** INC (delta 1) / DEC (delta -1): ADD/SUB of 1 that leaves CF alone. */
export function incDec(s: FlagState, a: number, delta: number, size: number): number {
  const cf = s.flags & CF;
  const r = alu(s, delta > 0 ? Alu.ADD : Alu.SUB, a, 1, size);
  s.flags = (s.flags & ~CF) | cf;
  return r;
}

export function incDec64(s: FlagState, lo: number, hi: number, delta: number): number {
  const cf = s.flags & CF;
  const r = alu64(s, delta > 0 ? Alu.ADD : Alu.SUB, lo, hi, 1, 0);
  s.flags = (s.flags & ~CF) | cf;
  return r;
}

/**
 * Shift or rotate of a 1/2/4-byte operand. `count` is the raw count operand; it is masked to
 * 5 bits as hardware does. A masked count of 0 changes neither the value nor the flags.
 */
export function shift(s: FlagState, op: number, a: number, count: number, size: number): number {
  const bits = size * 8;
  const n = count & 31;
  if (n === 0) return a;
  const sign = SIGN[size];
  let r: number;
  let cf: number;
  switch (op) {
    case Shift.SHL: {
      // a * 2^n stays exact for 8/16-bit operands; 32-bit ones take the shift path.
      if (size === 4) {
        cf = (a >>> (32 - n)) & 1;
        r = (a << n) >>> 0;
      } else {
        const wide = a * 2 ** n;
        cf = Math.floor(wide / 2 ** bits) & 1;
        r = wide % 2 ** bits;
      }
      setStatus(s, cf, ((r & sign) !== 0 ? 1 : 0) ^ cf, 0, r, r === 0, (r & sign) !== 0);
      return r;
    }
    case Shift.SHR:
      cf = Math.floor(a / 2 ** (n - 1)) & 1;
      r = n >= bits ? 0 : Math.floor(a / 2 ** n);
      setStatus(s, cf, a & sign, 0, r, r === 0, false);
      return r;
    case Shift.SAR: {
      const signed = size === 4 ? a | 0 : a & sign ? a - 2 ** bits : a;
      const m = Math.min(n, bits);
      cf = Math.floor(signed / 2 ** (m - 1)) & 1;
      r = trunc(Math.floor(signed / 2 ** m), size);
      setStatus(s, cf, 0, 0, r, r === 0, (r & sign) !== 0);
      return r;
    }
    case Shift.ROL:
    case Shift.ROR: {
      const k = n % bits;
      const left = op === Shift.ROL ? k : (bits - k) % bits;
      // Rotate left by `left` within `bits`: OR of the two shifted parts, masked to the size.
      r = left === 0 ? a : trunc((a << left) | (a >>> (bits - left)), size);
      const msb = (r & sign) !== 0 ? 1 : 0;
      if (op === Shift.ROL) {
        cf = r & 1;
        s.flags = (s.flags & ~(CF | OF)) | cf | ((msb ^ cf) !== 0 ? OF : 0);
      } else {
        const next = (r & (sign >>> 1)) !== 0 ? 1 : 0;
        s.flags = (s.flags & ~(CF | OF)) | msb | ((msb ^ next) !== 0 ? OF : 0);
      }
      return r;
    }
    default: {
      // RCL/RCR rotate through CF: a (bits+1)-bit rotation, done bit by bit since it is rare.
      const k = size === 4 ? n : n % (bits + 1);
      let v = a;
      let c = s.flags & CF;
      for (let i = 0; i < k; i++) {
        if (op === Shift.RCL) {
          const out = (v & sign) !== 0 ? 1 : 0;
          v = trunc(v * 2 + c, size);
          c = out;
        } else {
          const out = v & 1;
          v = Math.floor(v / 2) + (c !== 0 ? sign : 0);
          c = out;
        }
      }
      const msb = (v & sign) !== 0 ? 1 : 0;
      const of = op === Shift.RCL ? msb ^ c : msb ^ ((v & (sign >>> 1)) !== 0 ? 1 : 0);
      s.flags = (s.flags & ~(CF | OF)) | c | (of !== 0 ? OF : 0);
      return v;
    }
  }
}

const U64 = (lo: number, hi: number): bigint => (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);

/**
 * Shift or rotate of a 64-bit operand given as halves (count masked to 6 bits). SHL/SHR/SAR
 * stay on halves since kernels use them constantly; rotates go through BigInt.
 */
export function shift64(s: FlagState, op: number, lo: number, hi: number, count: number): number {
  const n = count & 63;
  if (n === 0) {
    s.hiOut = hi;
    return lo;
  }
  let rlo: number;
  let rhi: number;
  let cf: number;
  let of: number;
  switch (op) {
    case Shift.SHL:
      if (n < 32) {
        cf = (hi >>> (32 - n)) & 1;
        rhi = ((hi << n) | (lo >>> (32 - n))) >>> 0;
        rlo = (lo << n) >>> 0;
      } else {
        cf = n === 32 ? hi & 1 : (lo >>> (64 - n)) & 1;
        rhi = n === 32 ? lo : (lo << (n - 32)) >>> 0;
        rlo = 0;
      }
      of = (rhi >>> 31) ^ cf;
      break;
    case Shift.SHR:
    case Shift.SAR: {
      const fill = op === Shift.SAR ? (hi | 0) >> 31 : 0;
      if (n < 32) {
        cf = (lo >>> (n - 1)) & 1;
        rlo = ((lo >>> n) | (hi << (32 - n))) >>> 0;
        rhi = (op === Shift.SAR ? (hi | 0) >> n : hi >>> n) >>> 0;
      } else {
        cf = n === 32 ? lo >>> 31 : (hi >>> (n - 33)) & 1;
        rlo = (n === 32 ? hi : op === Shift.SAR ? (hi | 0) >> (n - 32) : hi >>> (n - 32)) >>> 0;
        rhi = fill >>> 0;
      }
      of = op === Shift.SHR ? hi >>> 31 : 0;
      break;
    }
    default: {
      const v = U64(lo, hi);
      let r: bigint;
      let c = BigInt(s.flags & CF);
      if (op === Shift.ROL) r = BigInt.asUintN(64, (v << BigInt(n)) | (v >> BigInt(64 - n)));
      else if (op === Shift.ROR) r = BigInt.asUintN(64, (v >> BigInt(n)) | (v << BigInt(64 - n)));
      else {
        r = v;
        for (let i = 0; i < n; i++) {
          if (op === Shift.RCL) {
            const out = r >> 63n;
            r = BigInt.asUintN(64, (r << 1n) | c);
            c = out;
          } else {
            const out = r & 1n;
            r = (r >> 1n) | (c << 63n);
            c = out;
          }
        }
      }
      rlo = Number(r & 0xffffffffn);
      rhi = Number(r >> 32n);
      const msb = rhi >>> 31;
      if (op === Shift.ROL) cf = rlo & 1;
      else if (op === Shift.ROR) cf = msb;
      else cf = Number(c);
      of = op === Shift.ROL || op === Shift.RCL ? msb ^ cf : msb ^ ((rhi >>> 30) & 1);
      s.flags = (s.flags & ~(CF | OF)) | cf | (of !== 0 ? OF : 0);
      s.hiOut = rhi;
      return rlo;
    }
  }
  setStatus(s, cf, of, 0, rlo, (rlo | rhi) === 0, rhi >>> 31 === 1);
  s.hiOut = rhi;
  return rlo;
}

/**
 * SHLD/SHRD: shift `dst` filling from `src`. They are rare, so every size shares one exact BigInt
 * path. The count is masked to 5 bits (6 for 64-bit); 16-bit counts above 16 (undefined in the
 * SDM) shift the 32-bit concatenation.
 */
export function doubleShift(s: FlagState, left: boolean, dst: bigint, src: bigint, count: number, size: number): bigint {
  const bits = BigInt(size * 8);
  const n = BigInt(count & (size === 8 ? 63 : 31));
  if (n === 0n) return dst;
  const mask = (1n << bits) - 1n;
  let r: bigint;
  let cf: bigint;
  if (left) {
    const wide = (dst << bits) | src;
    const shifted = wide << n;
    r = (shifted >> bits) & mask;
    cf = (shifted >> (bits * 2n)) & 1n;
  } else {
    const wide = (src << bits) | dst;
    r = (wide >> n) & mask;
    cf = (wide >> (n - 1n)) & 1n;
  }
  const signBit = bits - 1n;
  const of = ((r ^ dst) >> signBit) & 1n;
  const lo = Number(r & 0xffn);
  setStatus(s, Number(cf), Number(of), 0, lo, r === 0n, ((r >> signBit) & 1n) === 1n);
  return r;
}
