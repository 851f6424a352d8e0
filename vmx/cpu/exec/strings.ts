/**
 * String instructions (MOVS, STOS, LODS, CMPS, SCAS) with REP/REPE/REPNE and the direction flag,
 * plus the rSI/rDI/rCX arithmetic that INS/OUTS share. A REP instruction runs its iterations in
 * one go but commits registers after each, so an exit inside (MMIO, EPT) restarts it exactly
 * where it stopped; an MMIO write ends the current run after its iteration.
 */
import { Mnemonic } from 'iced-x86';
import { Alu, alu, alu64 } from '../alu-flags.js';
import type { Cpu } from '../cpu.js';
import { DF, ZF } from '../flags.js';
import type { Insn } from '../insn.js';
import { Seg } from '../segment.js';
import type { HandlerTable } from './table.js';

const TWO32 = 4294967296;

/** Value of rCX/rSI/rDI as the address size sees it (a signed number for 64-bit). */
export function addrReg(c: Cpu, r: number, asz: number): number {
  return asz === 8 ? (c.hi[r] | 0) * TWO32 + c.lo[r] : asz === 4 ? c.lo[r] : c.lo[r] & 0xffff;
}

/** Add `delta` to rCX/rSI/rDI with the wrap of the address size. */
export function addAddrReg(c: Cpu, r: number, asz: number, delta: number): void {
  if (asz === 8) {
    const v = c.lo[r] + delta;
    c.lo[r] = v;
    if (v < 0) c.hi[r] -= 1;
    else if (v >= TWO32) c.hi[r] += 1;
  } else if (asz === 4) c.setReg(r, 4, (c.lo[r] + delta) >>> 0);
  else c.setReg(r, 2, c.lo[r] + delta);
}

/** rCX is zero (the REP loop is finished). */
export const countZero = (c: Cpu, asz: number): boolean => (asz === 8 ? (c.lo[1] | c.hi[1]) === 0 : asz === 4 ? c.lo[1] === 0 : (c.lo[1] & 0xffff) === 0);

/** Linear address of seg:rSI/rDI; in 64-bit mode only FS/GS bases apply. */
export function stringLin(c: Cpu, seg: number, r: number, asz: number): number {
  const off = addrReg(c, r, asz);
  if (c.bits === 64) return c.canonical((seg >= Seg.FS ? c.seg[seg].base : 0) + off, seg);
  return (c.seg[seg].base + off) >>> 0;
}

/** Read a string element of 1/2/4/8 bytes (8: high half in opHi). */
export function readElement(c: Cpu, lin: number, size: number): number {
  return size === 8 ? c.read64(lin) : c.read(lin, size);
}

export function writeElement(c: Cpu, lin: number, size: number, v: number, vhi: number): void {
  if (size === 8) c.write64(lin, v, vhi);
  else c.write(lin, size, v);
}

const S = { MOVS: 0, STOS: 1, LODS: 2, CMPS: 3, SCAS: 4 } as const;

/** `sub` = kind * 16 + element size. */
function stringOp(c: Cpu, i: Insn): void {
  const kind = i.sub >> 4;
  const size = i.sub & 15;
  const asz = i.asz;
  const srcSeg = i.seg < 0 ? Seg.DS : i.seg;
  const step = (c.flags & DF) !== 0 ? -size : size;
  for (;;) {
    if (i.rep !== 0 && countZero(c, asz)) return;
    switch (kind) {
      case S.MOVS: {
        const v = readElement(c, stringLin(c, srcSeg, 6, asz), size);
        writeElement(c, stringLin(c, Seg.ES, 7, asz), size, v, c.opHi);
        addAddrReg(c, 6, asz, step);
        addAddrReg(c, 7, asz, step);
        break;
      }
      case S.STOS:
        writeElement(c, stringLin(c, Seg.ES, 7, asz), size, size === 1 ? c.lo[0] & 0xff : size === 2 ? c.lo[0] & 0xffff : c.lo[0], c.hi[0]);
        addAddrReg(c, 7, asz, step);
        break;
      case S.LODS: {
        const v = readElement(c, stringLin(c, srcSeg, 6, asz), size);
        c.setReg(0, size, v, c.opHi);
        addAddrReg(c, 6, asz, step);
        break;
      }
      default: {
        // CMPS compares [rSI] with [rDI]; SCAS compares rAX with [rDI].
        const a = kind === S.CMPS ? readElement(c, stringLin(c, srcSeg, 6, asz), size) : size === 8 ? c.lo[0] : c.getReg(0, size);
        const ah = kind === S.CMPS ? c.opHi : c.hi[0];
        const b = readElement(c, stringLin(c, Seg.ES, 7, asz), size);
        if (size === 8) alu64(c, Alu.CMP, a, ah, b, c.opHi);
        else alu(c, Alu.CMP, a, b, size);
        if (kind === S.CMPS) addAddrReg(c, 6, asz, step);
        addAddrReg(c, 7, asz, step);
        break;
      }
    }
    if (i.rep === 0) return;
    addAddrReg(c, 1, asz, -1);
    c.iterationDone();
    if (kind >= S.CMPS && ((c.flags & ZF) !== 0) !== (i.rep === 1)) return;
    if (c.postExits.length !== 0) {
      // An MMIO write must reach the monitor now; the instruction resumes on the next run.
      if (!countZero(c, asz)) c.nextRip = c.rip;
      return;
    }
  }
}

const forms = (kind: number, ms: Mnemonic[]): HandlerTable => ms.map((m, k) => [m, stringOp, kind * 16 + (1 << k)] as const);

export const stringHandlers: HandlerTable = [
  ...forms(S.MOVS, [Mnemonic.Movsb, Mnemonic.Movsw, Mnemonic.Movsd, Mnemonic.Movsq]),
  ...forms(S.STOS, [Mnemonic.Stosb, Mnemonic.Stosw, Mnemonic.Stosd, Mnemonic.Stosq]),
  ...forms(S.LODS, [Mnemonic.Lodsb, Mnemonic.Lodsw, Mnemonic.Lodsd, Mnemonic.Lodsq]),
  ...forms(S.CMPS, [Mnemonic.Cmpsb, Mnemonic.Cmpsw, Mnemonic.Cmpsd, Mnemonic.Cmpsq]),
  ...forms(S.SCAS, [Mnemonic.Scasb, Mnemonic.Scasw, Mnemonic.Scasd, Mnemonic.Scasq]),
];
