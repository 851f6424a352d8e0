/** Operand helpers shared by the instruction modules. */
import type { Cpu } from '../cpu.js';
import { type Insn, K } from '../insn.js';

/** Linear address of the memory operand, or 0 when the instruction has none among its first two. */
export const memLin = (c: Cpu, i: Insn): number => (i.k0 === K.MEM || i.k1 === K.MEM || i.k2 === K.MEM ? c.ea(i) : 0);

/** Read an operand as an unsigned BigInt (rare paths: wide multiply/divide, double shifts). */
export function readBig(c: Cpu, i: Insn, k: number, r: number, lin: number, size: number): bigint {
  const lo = c.rdOp(i, k, r, lin, size);
  return size === 8 ? (BigInt(c.opHi) << 32n) | BigInt(lo) : BigInt(lo);
}

export function writeBig(c: Cpu, k: number, r: number, lin: number, size: number, v: bigint): void {
  c.wrOp(k, r, lin, size, Number(v & 0xffffffffn), Number((v >> 32n) & 0xffffffffn));
}

/** Sign-extend an unsigned value of `size` bytes to a signed number (not for size 8). */
export const signed = (v: number, size: number): number => (size === 4 ? v | 0 : size === 2 ? (v << 16) >> 16 : (v << 24) >> 24);

/** The high half of a size-byte value sign-extended to 64 bits: all ones or zero. */
export function signExtendHi(v: number, size: number): number {
  return signed(v, size) < 0 ? 0xffffffff : 0;
}
