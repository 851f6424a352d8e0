/**
 * Port I/O. Every IN/OUT/INS/OUTS exits to the monitor (no in-kernel devices are modelled).
 * When the registers move follows KVM, since a monitor can read them during the exit:
 * - IN and OUT take KVM's fast path: RIP stays on the instruction and the next run completes
 *   it (complete_fast_pio_in/out), except OUT to port 0x7e, which KVM retires before exiting
 *   (a compatibility quirk for old userspace);
 * - INS and OUTS go through Linux's instruction emulator. OUTS hands one element per exit
 *   (em_out passes a count of 1) and commits rSI and rCX before exiting (RIP too, unless REP:
 *   a REP instruction stays at its RIP until it re-executes with rCX = 0); INS reads ahead
 *   min(bytes left in rDI's page, 1024 / size, rCX) elements, at least 1 (the mixed units are
 *   pio_in_emulated's), commits nothing at the exit and stores them all on the next run.
 */
import { Mnemonic } from 'iced-x86';
import { ExitReason, type IoExit } from '../../exits.js';
import type { Cpu } from '../cpu.js';
import { gp } from '../faults.js';
import { DF, IOPL } from '../flags.js';
import { type Insn, K } from '../insn.js';
import { Seg } from '../segment.js';
import { addAddrReg, addrReg, countZero, readElement, stringLin, writeElement } from './strings.js';
import type { HandlerTable } from './table.js';

export interface PendingIo {
  insn: Insn;
  exit: IoExit;
  /** Linear RIP at the exit: KVM drops the completion if the monitor moved RIP meanwhile. */
  linearRip: number;
}

const READ_AHEAD = 1024;

function toBytes(v: number, size: number): Uint8Array {
  const b = new Uint8Array(size);
  for (let k = 0; k < size; k++) b[k] = v >>> (8 * k);
  return b;
}

function fromBytes(b: Uint8Array, at: number, size: number): number {
  let v = 0;
  for (let k = size - 1; k >= 0; k--) v = v * 256 + (b[at + k] ?? 0);
  return v;
}

/**
 * Protected-mode I/O permission: with CPL > IOPL the TSS I/O bitmap must clear every bit of the
 * accessed ports, else #GP(0). Hardware checks this before any VM exit.
 */
function checkPermission(c: Cpu, port: number, size: number): void {
  if ((c.cr0 & 1) === 0 || c.cpl <= (c.flags & IOPL) >>> 12) return;
  const tr = c.seg[Seg.TR];
  if (tr.unusable || (tr.type !== 9 && tr.type !== 11) || tr.limit < 0x67) throw gp();
  const base = c.read(c.systemLinear(tr.base, 0x66), 2);
  const at = base + (port >>> 3);
  if (at + 1 > tr.limit) throw gp();
  const bits = c.read(c.systemLinear(tr.base, at), 2);
  if ((bits >>> (port & 7)) & ((1 << size) - 1)) throw gp();
}

/** Exits before the instruction retires; the handler returns straight after. */
function stop(c: Cpu, i: Insn, exit: IoExit): void {
  c.pendingIo = { insn: i, exit, linearRip: c.ripLinear() };
  c.stopExit = exit;
}

function ioExit(port: number, size: number, direction: 'in' | 'out', count: number, string: boolean, rep: boolean, data: Uint8Array): IoExit {
  return { reason: ExitReason.IO_INSTRUCTION, port, size: size as 1 | 2 | 4, direction, count, string, rep, data };
}

function inPort(c: Cpu, i: Insn): void {
  const port = i.k1 === K.IMM ? i.imm & 0xff : c.lo[2] & 0xffff;
  checkPermission(c, port, i.osz);
  stop(c, i, ioExit(port, i.osz, 'in', 1, false, false, new Uint8Array(i.osz)));
}

/** The port KVM retires an OUT to before exiting (kvm_fast_pio_out). */
const QUIRK_PORT = 0x7e;

function outPort(c: Cpu, i: Insn): void {
  const port = i.k0 === K.IMM ? i.imm & 0xff : c.lo[2] & 0xffff;
  const size = i.ssz;
  checkPermission(c, port, size);
  const exit = ioExit(port, size, 'out', 1, false, false, toBytes(c.getReg(0, size), size));
  if (port === QUIRK_PORT) c.postExits.push(exit);
  else stop(c, i, exit);
}

function ins(c: Cpu, i: Insn): void {
  const size = i.osz;
  const rep = i.rep !== 0;
  checkPermission(c, c.lo[2] & 0xffff, size);
  if (rep && countZero(c, i.asz)) return;
  const pageOff = stringLin(c, Seg.ES, 7, i.asz) & 4095;
  const inPage = (c.flags & DF) !== 0 ? pageOff : 4096 - pageOff;
  const want = rep ? addrReg(c, 1, i.asz) : 1;
  const count = Math.max(1, Math.min(inPage, READ_AHEAD / size, want));
  stop(c, i, ioExit(c.lo[2] & 0xffff, size, 'in', count, true, rep, new Uint8Array(count * size)));
}

function outs(c: Cpu, i: Insn): void {
  const size = i.ssz;
  const rep = i.rep !== 0;
  checkPermission(c, c.lo[2] & 0xffff, size);
  if (rep && countZero(c, i.asz)) return;
  const v = readElement(c, stringLin(c, i.seg < 0 ? Seg.DS : i.seg, 6, i.asz), size);
  addAddrReg(c, 6, i.asz, (c.flags & DF) !== 0 ? -size : size);
  if (rep) {
    addAddrReg(c, 1, i.asz, -1);
    // KVM's emulator leaves RIP on a REP string instruction even after its last element; the
    // re-execution with rCX = 0 then retires it without another exit.
    c.nextRip = c.rip;
  }
  c.postExits.push(ioExit(c.lo[2] & 0xffff, size, 'out', 1, true, rep, toBytes(v, size)));
}

/** Finish the I/O instruction the last exit stopped at, with the monitor's data for an IN. */
export function completePendingIo(c: Cpu): void {
  const { insn: i, exit, linearRip } = c.pendingIo as PendingIo;
  const data = exit.direction === 'in' ? c.ioData : exit.data;
  if (data === undefined) throw new Error('an IN exit needs completeIo(data) before the next run');
  c.pendingIo = undefined;
  c.ioData = undefined;
  // As kvm_is_linear_rip() in complete_fast_pio_*: a RIP the monitor changed (KVM_SET_REGS)
  // means the instruction is abandoned, not completed.
  if (c.ripLinear() !== linearRip) return;
  const size = exit.size;
  const step = (c.flags & DF) !== 0 ? -size : size;
  if (!exit.string) {
    if (exit.direction === 'in') c.setReg(0, size, fromBytes(data, 0, size));
  } else {
    for (let k = 0; k < exit.count; k++) {
      writeElement(c, stringLin(c, Seg.ES, 7, i.asz), size, fromBytes(data, k * size, size), 0);
      addAddrReg(c, 7, i.asz, step);
      if (exit.rep) addAddrReg(c, 1, i.asz, -1);
    }
    if (exit.rep && !countZero(c, i.asz)) return;
  }
  const next = c.rip + i.len;
  c.rip = c.bits === 64 ? next : c.bits === 32 ? next >>> 0 : next & 0xffff;
  c.icount++;
}

export const ioHandlers: HandlerTable = [
  [Mnemonic.In, inPort, 0],
  [Mnemonic.Out, outPort, 0],
  [Mnemonic.Insb, ins, 0],
  [Mnemonic.Insw, ins, 0],
  [Mnemonic.Insd, ins, 0],
  [Mnemonic.Outsb, outs, 0],
  [Mnemonic.Outsw, outs, 0],
  [Mnemonic.Outsd, outs, 0],
];
