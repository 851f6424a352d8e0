/**
 * System instructions: control/debug/segment register moves, descriptor-table loads, HLT,
 * CPUID, RDMSR/WRMSR, RDTSC(P), SYSCALL/SYSRET and the small privileged rest. CPUID, MSRs and the TSC are answered
 * by the VMX model through `Cpu.bus`; HLT exits after retiring.
 */
import { Mnemonic } from 'iced-x86';
import { ExitReason } from '../../exits.js';
import { CR0, CR4, EFER } from '../control-regs.js';
import type { Cpu } from '../cpu.js';
import { loadDataSegment, loadSystemSegment } from '../descriptors.js';
import { gp, ud } from '../faults.js';
import { FIXED1, RF } from '../flags.js';
import { type Insn, K } from '../insn.js';
import { Seg } from '../segment.js';
import { Msr } from '../../msrs.js';
import { foldLinear, unfoldLinear } from '../paging.js';
import { memLin } from './operands.js';
import type { HandlerTable } from './table.js';

const TWO32 = 4294967296;

function requireCpl0(c: Cpu): void {
  if ((c.cr0 & CR0.PE) !== 0 && c.cpl !== 0) throw gp();
}

/** Bits of CR0 software can change (ET is hardwired to 1). */
const CR0_WRITABLE = CR0.PE | CR0.MP | CR0.EM | CR0.TS | CR0.NE | CR0.WP | CR0.AM | CR0.NW | CR0.CD | CR0.PG;

/** Apply a CR0 write with the mode checks and long-mode activation (EFER.LMA) hardware does. */
export function writeCr0(c: Cpu, v: number): void {
  v = ((v & CR0_WRITABLE) | CR0.ET) >>> 0;
  if ((v & CR0.PG) !== 0 && (v & CR0.PE) === 0) throw gp();
  if ((v & CR0.NW) !== 0 && (v & CR0.CD) === 0) throw gp();
  const enablingPaging = (v & CR0.PG) !== 0 && (c.cr0 & CR0.PG) === 0;
  if (enablingPaging && (c.efer & EFER.LME) !== 0) {
    if ((c.cr4 & CR4.PAE) === 0) throw gp();
    c.efer |= EFER.LMA;
  }
  if ((v & CR0.PG) === 0 && (c.efer & EFER.LMA) !== 0) {
    if (c.bits === 64) throw gp();
    c.efer &= ~EFER.LMA;
  }
  c.cr0 = v;
  c.updateMode();
  c.flushTranslations();
}

function writeCr4(c: Cpu, v: number): void {
  if ((v & CR4.PAE) === 0 && (c.efer & EFER.LMA) !== 0) throw gp();
  c.cr4 = v >>> 0;
  c.updateMode();
  c.flushTranslations();
}

/** MOV to or from CRn, DRn and segment registers (the decoder routes these MOVs here). */
export function movSpecial(c: Cpu, i: Insn): void {
  if (i.k0 === K.SEG) {
    if (i.r0 === Seg.CS) throw ud();
    const sel = c.rdOp(i, i.k1, i.r1, memLin(c, i), 2);
    loadDataSegment(c, i.r0, sel);
    if (i.r0 === Seg.SS) c.shadowAt = c.icount + 1;
    return;
  }
  if (i.k1 === K.SEG) {
    const sel = c.seg[i.r1].selector;
    if (i.k0 === K.MEM) c.write(c.ea(i), 2, sel);
    else c.setReg(i.r0, i.osz, sel);
    return;
  }
  requireCpl0(c);
  const size = c.bits === 64 ? 8 : 4;
  if (i.k0 === K.CR || i.k0 === K.DR) {
    const lo = c.lo[i.r1];
    const hi = size === 8 ? c.hi[i.r1] : 0;
    if (i.k0 === K.DR) {
      writeDr(c, i.r0, (BigInt(hi) << 32n) | BigInt(lo));
      return;
    }
    switch (i.r0) {
      case 0:
        if (hi !== 0) throw gp();
        writeCr0(c, lo);
        return;
      case 2:
        // CR2 holds a linear address: folded like every other (exact for canonical values).
        c.cr2 = size === 8 ? foldLinear(hi, lo) : lo;
        return;
      case 3:
        c.cr3 = hi * TWO32 + lo;
        c.flushTranslations();
        return;
      case 4:
        if (hi !== 0) throw gp();
        writeCr4(c, lo);
        return;
      case 8:
        if (hi !== 0 || lo > 15) throw gp();
        c.cr8 = lo;
        return;
      default:
        throw ud();
    }
  }
  let v: number;
  if (i.k1 === K.DR) {
    const d = readDr(c, i.r1);
    c.setReg(i.r0, size, Number(d & 0xffffffffn), Number(d >> 32n));
    return;
  }
  switch (i.r1) {
    case 0:
      v = c.cr0;
      break;
    case 2:
      v = (c.efer & EFER.LMA) !== 0 ? unfoldLinear(c.cr2) : c.cr2;
      break;
    case 3:
      v = c.cr3;
      break;
    case 4:
      v = c.cr4;
      break;
    case 8:
      v = c.cr8;
      break;
    default:
      throw ud();
  }
  c.setReg(i.r0, size, v >>> 0, Math.floor(v / TWO32) >>> 0);
}

/** DR4/DR5 alias DR6/DR7 (CR4.DE clear); DR6/DR7 keep their fixed bits. */
function drIndex(n: number): number {
  if (n === 4 || n === 5) return n + 2;
  if (n > 7) throw ud();
  return n;
}

function readDr(c: Cpu, n: number): bigint {
  return c.dr[drIndex(n)];
}

function writeDr(c: Cpu, n: number, v: bigint): void {
  const k = drIndex(n);
  if (k === 6) v = (v & 0x1e00fn) | 0xffff0ff0n;
  else if (k === 7) v = (v & 0xffff2bffn) | 0x400n;
  c.dr[k] = v;
}

/** LGDT (sub 0) / LIDT (1): 16-bit limit then a 24/32/64-bit base. */
function loadTable(c: Cpu, i: Insn): void {
  requireCpl0(c);
  const lin = c.ea(i);
  const limit = c.read(lin, 2);
  let base: number;
  if (c.bits === 64) {
    const lo = c.read(lin + 2, 4);
    base = c.canonical((c.read(lin + 6, 4) | 0) * TWO32 + lo, -1);
  } else base = i.osz === 2 ? c.read(lin + 2, 4) & 0xffffff : c.read(lin + 2, 4);
  if (i.sub === 0) {
    c.gdtBase = base;
    c.gdtLimit = limit;
  } else {
    c.idtBase = base;
    c.idtLimit = limit;
  }
}

/** SGDT (sub 0) / SIDT (1). */
function storeTable(c: Cpu, i: Insn): void {
  const lin = c.ea(i);
  const base = i.sub === 0 ? c.gdtBase : c.idtBase;
  c.write(lin, 2, i.sub === 0 ? c.gdtLimit : c.idtLimit);
  if (c.bits === 64) {
    const v = unfoldLinear(base);
    c.write64(lin + 2, v >>> 0, Math.floor(v / TWO32) >>> 0);
  } else c.write(lin + 2, 4, base >>> 0);
}

/** LLDT / LTR (sub = Seg.LDTR / Seg.TR); SLDT / STR store the selector. */
function loadSystem(c: Cpu, i: Insn): void {
  if ((c.cr0 & CR0.PE) === 0) throw ud();
  requireCpl0(c);
  loadSystemSegment(c, i.sub, c.rdOp(i, i.k0, i.r0, memLin(c, i), 2));
}

function storeSystem(c: Cpu, i: Insn): void {
  if ((c.cr0 & CR0.PE) === 0) throw ud();
  const sel = c.seg[i.sub].selector;
  if (i.k0 === K.MEM) c.write(c.ea(i), 2, sel);
  else c.setReg(i.r0, i.osz, sel);
}

function smsw(c: Cpu, i: Insn): void {
  if (i.k0 === K.MEM) c.write(c.ea(i), 2, c.cr0 & 0xffff);
  else c.setReg(i.r0, i.osz, i.osz === 2 ? c.cr0 & 0xffff : c.cr0);
}

/** LMSW loads PE/MP/EM/TS and can set but never clear PE. */
function lmsw(c: Cpu, i: Insn): void {
  requireCpl0(c);
  const v = c.rdOp(i, i.k0, i.r0, memLin(c, i), 2);
  writeCr0(c, (c.cr0 & ~0xe) | (v & 0xf) | (c.cr0 & CR0.PE));
}

function clts(c: Cpu): void {
  requireCpl0(c);
  c.cr0 &= ~CR0.TS;
}

function hlt(c: Cpu): void {
  requireCpl0(c);
  c.postExits.push({ reason: ExitReason.HLT });
}

const regs = new Uint32Array(4);

function cpuid(c: Cpu): void {
  c.bus.cpuid(c.lo[0], c.lo[1], regs);
  c.setReg(0, 4, regs[0]);
  c.setReg(3, 4, regs[1]);
  c.setReg(1, 4, regs[2]);
  c.setReg(2, 4, regs[3]);
}

function rdmsr(c: Cpu): void {
  requireCpl0(c);
  const v = c.bus.rdmsr(c.lo[1]);
  if (v === undefined) throw gp();
  c.setReg(0, 4, Number(v & 0xffffffffn));
  c.setReg(2, 4, Number((v >> 32n) & 0xffffffffn));
}

function wrmsr(c: Cpu): void {
  requireCpl0(c);
  if (!c.bus.wrmsr(c.lo[1], (BigInt(c.lo[2]) << 32n) | BigInt(c.lo[0]))) throw gp();
}

/** RDTSC (sub 0) / RDTSCP (sub 1, which also loads IA32_TSC_AUX into ECX). */
function rdtsc(c: Cpu, i: Insn): void {
  if ((c.cr4 & CR4.TSD) !== 0 && c.cpl !== 0) throw gp();
  const tsc = c.bus.rdtsc();
  c.setReg(0, 4, Number(tsc & 0xffffffffn));
  c.setReg(2, 4, Number((tsc >> 32n) & 0xffffffffn));
  if (i.sub === 1) c.setReg(1, 4, Number((c.bus.rdmsr(Msr.TSC_AUX) ?? 0n) & 0xffffffffn));
}

/** Flat segment caches SYSCALL/SYSRET load without reading descriptors. */
function flatSegment(c: Cpu, index: number, selector: number, code: boolean, long: boolean): void {
  const s = c.seg[index];
  s.selector = selector;
  s.base = 0;
  s.limit = 0xffffffff;
  s.type = code ? 0xb : 0x3;
  s.s = 1;
  s.dpl = selector & 3;
  s.present = 1;
  s.l = long ? 1 : 0;
  s.db = long ? 0 : 1;
  s.g = 1;
  s.avl = 0;
  s.unusable = 0;
}

/** SYSCALL (64-bit and compatibility mode, EFER.SCE): to CPL 0 at LSTAR (CSTAR from compatibility mode). */
function syscall(c: Cpu): void {
  if ((c.efer & EFER.LMA) === 0 || (c.efer & EFER.SCE) === 0) throw ud();
  const star = c.bus.rdmsr(Msr.STAR) ?? 0n;
  const target = c.bus.rdmsr(c.bits === 64 ? Msr.LSTAR : Msr.CSTAR) ?? 0n;
  const mask = Number((c.bus.rdmsr(Msr.SFMASK) ?? 0n) & 0xffffffffn);
  const ret = c.nextRip;
  c.setReg(1, 8, ret >>> 0, Math.floor(ret / TWO32) >>> 0);
  c.setReg(11, 8, c.flags & ~RF, 0);
  const sel = Number((star >> 32n) & 0xfffcn);
  flatSegment(c, Seg.CS, sel, true, true);
  flatSegment(c, Seg.SS, sel + 8, false, false);
  c.flags = (c.flags & ~mask & ~RF) | FIXED1;
  c.updateMode();
  c.nextRip = Number(BigInt.asIntN(64, target));
}

/** SYSRET: back to CPL 3, to 64-bit code for SYSRETQ (sub 1), to compatibility mode otherwise. */
function sysret(c: Cpu, i: Insn): void {
  if ((c.efer & EFER.LMA) === 0 || (c.efer & EFER.SCE) === 0) throw ud();
  if (c.bits !== 64 || c.cpl !== 0) throw gp();
  const base = Number(((c.bus.rdmsr(Msr.STAR) ?? 0n) >> 48n) & 0xffffn);
  const to64 = i.sub === 1;
  const rip = to64 ? (c.hi[1] | 0) * TWO32 + c.lo[1] : c.lo[1];
  if (to64 && (rip < -(2 ** 47) || rip >= 2 ** 47)) throw gp();
  c.flags = (c.lo[11] & 0x3c7fd7) | FIXED1;
  flatSegment(c, Seg.CS, ((to64 ? base + 16 : base) & 0xfffc) | 3, true, to64);
  flatSegment(c, Seg.SS, ((base + 8) & 0xfffc) | 3, false, false);
  c.updateMode();
  c.nextRip = rip;
}

function invlpg(c: Cpu): void {
  requireCpl0(c);
  c.flushTranslations();
}

/** SWAPGS exchanges GS.base with IA32_KERNEL_GS_BASE (64-bit mode only). */
function swapgs(c: Cpu): void {
  if (c.bits !== 64) throw ud();
  requireCpl0(c);
  const kernel = c.bus.rdmsr(0xc0000102) ?? 0n;
  const gs = c.seg[Seg.GS];
  c.bus.wrmsr(0xc0000102, BigInt.asUintN(64, BigInt(gs.base)));
  gs.base = Number(BigInt.asIntN(64, kernel));
}

/** LDS/LES/LSS/LFS/LGS (sub = segment): offset then selector from memory. */
function loadFarPointer(c: Cpu, i: Insn): void {
  const lin = c.ea(i);
  const size = i.osz;
  const lo = size === 8 ? c.read64(lin) : c.read(lin, size);
  const hi = c.opHi;
  const sel = c.read(lin + size, 2);
  loadDataSegment(c, i.sub, sel);
  c.setReg(i.r0, size, lo, size === 8 ? hi : 0);
}

export const systemHandlers: HandlerTable = [
  [Mnemonic.Lgdt, loadTable, 0],
  [Mnemonic.Lidt, loadTable, 1],
  [Mnemonic.Sgdt, storeTable, 0],
  [Mnemonic.Sidt, storeTable, 1],
  [Mnemonic.Lldt, loadSystem, Seg.LDTR],
  [Mnemonic.Ltr, loadSystem, Seg.TR],
  [Mnemonic.Sldt, storeSystem, Seg.LDTR],
  [Mnemonic.Str, storeSystem, Seg.TR],
  [Mnemonic.Smsw, smsw, 0],
  [Mnemonic.Lmsw, lmsw, 0],
  [Mnemonic.Clts, clts, 0],
  [Mnemonic.Hlt, hlt, 0],
  [Mnemonic.Cpuid, cpuid, 0],
  [Mnemonic.Rdmsr, rdmsr, 0],
  [Mnemonic.Wrmsr, wrmsr, 0],
  [Mnemonic.Rdtsc, rdtsc, 0],
  [Mnemonic.Rdtscp, rdtsc, 1],
  [Mnemonic.Syscall, syscall, 0],
  [Mnemonic.Sysretq, sysret, 1],
  [Mnemonic.Sysret, sysret, 0],
  [Mnemonic.Invlpg, invlpg, 0],
  [Mnemonic.Swapgs, swapgs, 0],
  [Mnemonic.Lds, loadFarPointer, Seg.DS],
  [Mnemonic.Les, loadFarPointer, Seg.ES],
  [Mnemonic.Lss, loadFarPointer, Seg.SS],
  [Mnemonic.Lfs, loadFarPointer, Seg.FS],
  [Mnemonic.Lgs, loadFarPointer, Seg.GS],
];
