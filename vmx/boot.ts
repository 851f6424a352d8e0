/**
 * The test-guest convention shared by the emulated core's tests, `ioctlgrind run GUEST.bin` and
 * the KVM front-end tests, and a minimal monitor loop that implements it:
 *
 * - 2 MiB of RAM at guest-physical 0, with an MMIO hole at 0xb8000..0xbffff (two slots over one
 *   buffer, so the hole is just unbacked);
 * - the flat binary loaded and entered at 0x1000, the stack pointer at 0x8000 (stack below it);
 * - real16: CS=DS=ES=SS=0; pm32: CR0.PE=1 and flat 4 GiB segments (CS 0x08, data 0x10) in the
 *   segment caches only, no GDT in memory; long64: as pm32 with a 64-bit CS, EFER.LME|LMA,
 *   CR4.PAE and CR0.PG, the first 2 MiB identity-mapped by one 2 MiB page whose tables
 *   (PML4, PDPT, PD) the monitor builds at 0x100000;
 * - port 0x3f8 is the output, a byte written to port 0xf4 ends the run with that exit code;
 *   reads of any port and of MMIO return 0xff bytes, MMIO writes are ignored.
 */
import { ExitReason, exitReasonName, type VmExit } from './exits.js';
import type { Machine } from './machine.js';
import { PAGE_SIZE } from './memory.js';
import type { KvmSegment, KvmSregs } from './state.js';

/** Re-exported for users of conventionSregs(), whose input and output it types. */
export type { KvmSregs };
import type { Vcpu } from './vcpu.js';

export const Convention = {
  RAM_SIZE: 2 * 1024 * 1024,
  MMIO_HOLE_START: 0xb8000,
  MMIO_HOLE_END: 0xc0000,
  LOAD_ADDRESS: 0x1000,
  STACK_TOP: 0x8000,
  PAGE_TABLES: 0x100000,
  SERIAL_PORT: 0x3f8,
  EXIT_PORT: 0xf4,
} as const;

export type GuestMode = 'real16' | 'pm32' | 'long64';

function segment(selector: number, code: boolean, mode: GuestMode): KvmSegment {
  const flat = mode !== 'real16';
  return {
    base: 0n,
    limit: flat ? 0xffffffff : 0xffff,
    selector,
    // Code: execute/read, accessed; data: read/write, accessed.
    type: code ? 0xb : 0x3,
    present: 1,
    dpl: 0,
    db: flat && !(code && mode === 'long64') ? 1 : 0,
    s: 1,
    l: code && mode === 'long64' ? 1 : 0,
    g: flat ? 1 : 0,
    avl: 0,
    unusable: 0,
  };
}

/** Build the long64 identity map of the first 2 MiB: PML4 -> PDPT -> PD with one 2 MiB page. */
function buildPageTables(ram: Uint8Array): void {
  const view = new DataView(ram.buffer, ram.byteOffset, ram.byteLength);
  const pml4 = Convention.PAGE_TABLES;
  const pdpt = pml4 + PAGE_SIZE;
  const pd = pdpt + PAGE_SIZE;
  ram.fill(0, pml4, pd + PAGE_SIZE);
  view.setUint32(pml4, pdpt | 0x3, true);
  view.setUint32(pdpt, pd | 0x3, true);
  view.setUint32(pd, 0x0 | 0x83, true);
}

/** The special registers for a guest mode under the convention (KVM_SET_SREGS input). */
export function conventionSregs(base: KvmSregs, mode: GuestMode): KvmSregs {
  const code = segment(mode === 'real16' ? 0 : 0x08, true, mode);
  const data = segment(mode === 'real16' ? 0 : 0x10, false, mode);
  const s: KvmSregs = { ...base, cs: code, ds: data, es: { ...data }, fs: { ...data }, gs: { ...data }, ss: { ...data } };
  // VMX entry wants a usable busy TSS in TR even when the guest never uses one.
  s.tr = { ...base.tr, base: 0n, limit: 0xffff, selector: 0, type: 0xb, present: 1, s: 0, dpl: 0, db: 0, l: 0, g: 0, avl: 0, unusable: 0 };
  if (mode === 'real16') return s;
  s.cr0 = 0x11n;
  if (mode === 'long64') {
    s.cr3 = BigInt(Convention.PAGE_TABLES);
    s.cr4 = 0x20n;
    s.efer = 0x500n;
    s.cr0 = 0x80000011n;
  }
  return s;
}

export interface ConventionGuest {
  /** The 2 MiB RAM buffer, both slots are views into it. */
  ram: Uint8Array;
}

/** Lay out memory, load `image` at 0x1000 and set the registers for `mode`. */
export function setupConventionGuest(machine: Machine, vcpu: Vcpu, image: Uint8Array, mode: GuestMode): ConventionGuest {
  const ram = new Uint8Array(Convention.RAM_SIZE);
  if (Convention.LOAD_ADDRESS + image.length > Convention.MMIO_HOLE_START) throw new RangeError(`guest image of ${image.length} bytes runs into the MMIO hole`);
  ram.set(image, Convention.LOAD_ADDRESS);
  machine.setSlot({ slot: 0, gpa: 0, size: Convention.MMIO_HOLE_START, backing: ram.subarray(0, Convention.MMIO_HOLE_START) });
  machine.setSlot({ slot: 1, gpa: Convention.MMIO_HOLE_END, size: Convention.RAM_SIZE - Convention.MMIO_HOLE_END, backing: ram.subarray(Convention.MMIO_HOLE_END) });
  if (mode === 'long64') {
    buildPageTables(ram);
    machine.memory.notifyWrite(Convention.PAGE_TABLES, 3 * PAGE_SIZE);
  }
  vcpu.setSregs(conventionSregs(vcpu.getSregs(), mode));
  const regs = vcpu.getRegs();
  for (const k of Object.keys(regs) as (keyof typeof regs)[]) regs[k] = 0n;
  regs.rip = BigInt(Convention.LOAD_ADDRESS);
  regs.rsp = BigInt(Convention.STACK_TOP);
  regs.rflags = 2n;
  vcpu.setRegs(regs);
  return { ram };
}

export interface ConventionRunResult {
  /** The byte written to port 0xf4, or undefined when the run ended otherwise. */
  exitCode: number | undefined;
  /** Bytes written to port 0x3f8, as Latin-1 text. */
  output: string;
  /** The exit that ended the run (an OUT to 0xf4, HLT, triple fault, internal error, budget). */
  last: VmExit;
  /** Every exit seen, in order (only counted past `keepExits`). */
  exits: VmExit[];
  exitCount: number;
}

export interface ConventionRunOptions {
  /** Total instruction budget; the run ends with PREEMPTION_TIMER when it is spent. */
  maxInstructions?: number;
  /** Keep at most this many exits in `exits` (default 1000). */
  keepExits?: number;
}

/** The monitor side of the convention: serve exits until the guest exits, halts or fails. */
export function runConventionGuest(vcpu: Vcpu, options: ConventionRunOptions = {}): ConventionRunResult {
  const keep = options.keepExits ?? 1000;
  const exits: VmExit[] = [];
  let output = '';
  let exitCount = 0;
  const end = options.maxInstructions === undefined ? undefined : vcpu.instructionsRetired + options.maxInstructions;
  for (;;) {
    const budget = end === undefined ? undefined : Math.max(0, end - vcpu.instructionsRetired);
    const exit = vcpu.run(budget === undefined ? {} : { maxInstructions: budget });
    exitCount++;
    if (exits.length < keep) exits.push(exit);
    const done = (code: number | undefined): ConventionRunResult => ({ exitCode: code, output, last: exit, exits, exitCount });
    switch (exit.reason) {
      case ExitReason.IO_INSTRUCTION:
        if (exit.direction === 'in') vcpu.completeIo(new Uint8Array(exit.count * exit.size).fill(0xff));
        else if (exit.port === Convention.EXIT_PORT) {
          vcpu.run({ maxInstructions: 0 });
          return done(exit.data[0]);
        } else if (exit.port === Convention.SERIAL_PORT) output += String.fromCharCode(...exit.data);
        break;
      case ExitReason.EPT_MISCONFIG:
        if (!exit.isWrite) vcpu.completeMmio(new Uint8Array(exit.size).fill(0xff));
        break;
      case ExitReason.EXTERNAL_INTERRUPT:
      case ExitReason.INTERRUPT_WINDOW:
        break;
      case ExitReason.HLT:
      case ExitReason.TRIPLE_FAULT:
      case ExitReason.INTERNAL_ERROR:
      case ExitReason.EPT_VIOLATION:
      case ExitReason.PREEMPTION_TIMER:
        return done(undefined);
      default:
        throw new Error(`unexpected exit ${exitReasonName((exit as VmExit).reason)}`);
    }
  }
}
