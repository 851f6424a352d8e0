// The bundled monitor for raw guest binaries (docs/run.md). It speaks only the KVM ABI through a
// Driver, so the same code drives /dev/kvm and the emulated core's front-end:
// - 2 MiB of RAM at gpa 0 in two slots around the MMIO hole 0xb8000-0xbffff;
// - the binary loaded and entered at 0x1000, rsp 0x8000;
// - real, pm32 (flat segments, CR0.PE) or long64 (identity map of 2 MiB, tables at 0x100000);
// - OUT to 0x3f8 is console output, OUT to 0xf4 ends the run with that byte as the exit code;
//   port reads and MMIO reads answer 0xff bytes; HLT, shutdown and errors end the run.

import { constants } from 'node:os';
import { decodeExit } from '../../schemas/codec.js';
import { Convention, conventionSregs } from '../boot.js';
import type { KvmSregs } from '../state.js';
import { errnoName, type Driver } from '../driver.js';
import { KvmCallError, KvmClient, type Fields } from './kvm-client.js';
import type { GuestMode } from './choices.js';

/** How a run ended. */
export type GuestEnd = 'exit-port' | 'hlt' | 'shutdown' | 'internal-error' | 'fail-entry' | 'exit-limit' | 'unexpected-exit';

/** One exit as the monitor saw it, in a form both back-ends can be compared by. */
export interface GuestExit {
  reason: string;
  io?: { direction: 'in' | 'out'; port: number; size: number; count: number; data?: number[] };
  mmio?: { addr: bigint; len: number; isWrite: boolean; data?: number[] };
}

export interface GuestRun {
  /** The byte written to port 0xf4, when that ended the run. */
  exitCode?: number;
  /** Bytes written to port 0x3f8, as Latin-1 text. */
  output: string;
  end: GuestEnd;
  /** What went wrong, for ends other than exit-port and hlt. */
  detail?: string;
  /** The first `keepExits` exits. */
  exits: GuestExit[];
  exitCount: number;
  /** kvm_regs after the run. */
  regs: Fields;
}

/** A port access of the guest: `count` items of `size` bytes at `at` in user memory. */
export interface PortAccess {
  out: boolean;
  port: number;
  size: number;
  count: number;
  at: number;
}

/**
 * The convention's ports: OUT to the exit port ends the run with its byte, OUT to the serial port is
 * console output, every IN reads 0xff bytes. Shared by the monitors of every ABI.
 */
function servePort(memory: Driver['memory'], a: PortAccess, print: (text: string) => void): { io: NonNullable<GuestExit['io']>; exitCode?: number } {
  if (!a.out) {
    memory.write(a.at, new Uint8Array(a.size * a.count).fill(0xff));
    return { io: { direction: 'in', port: a.port, size: a.size, count: a.count } };
  }
  const data = memory.read(a.at, a.size * a.count);
  const io = { direction: 'out' as const, port: a.port, size: a.size, count: a.count, data: [...data] };
  if (a.port === Convention.EXIT_PORT) return { io, exitCode: data[0] };
  if (a.port === Convention.SERIAL_PORT) print(String.fromCharCode(...data));
  return { io };
}

/** What a monitor's run loop keeps of the guest's exits and console output, for every ABI's monitor. */
export class RunLog {
  readonly exits: GuestExit[] = [];
  output = '';
  exitCount = 0;

  constructor(private readonly options: GuestOptions) {}

  /** True when the options' exit limit is reached (before the next run). */
  get atLimit(): boolean {
    return this.options.maxExits !== undefined && this.exitCount >= this.options.maxExits;
  }

  /** Counts an exit; the first `keepExits` are kept. */
  exit(reason: string): GuestExit {
    this.exitCount++;
    const exit: GuestExit = { reason };
    if (this.exits.length < (this.options.keepExits ?? 1000)) this.exits.push(exit);
    return exit;
  }

  /** Serves port I/O the convention's way into `exit`; the exit code when the guest asked to stop. */
  port(memory: Driver['memory'], access: PortAccess, exit: GuestExit): number | undefined {
    const served = servePort(memory, access, (text) => {
      this.output += text;
      this.options.onOutput?.(text);
    });
    exit.io = served.io;
    return served.exitCode;
  }

  done(end: GuestEnd, more: { exitCode?: number; detail?: string } = {}): Omit<GuestRun, 'regs'> {
    return { output: this.output, end, exits: this.exits, exitCount: this.exitCount, ...more };
  }
}

export interface GuestOptions {
  mode: GuestMode;
  /** Stop after this many exits (default: no limit). */
  maxExits?: number;
  /** How many exits to keep in `exits` (default 1000). */
  keepExits?: number;
  /** Console output as it comes. */
  onOutput?: (text: string) => void;
  /** Initial values of kvm_regs fields besides rip, rsp and rflags (guests take parameters in RDI). */
  regs?: Record<string, bigint>;
}

/** Where the VMX TSS (three pages KVM needs for real mode on Intel) lives: above RAM, below 4 GiB. */
const TSS_ADDR = 0xfffbd000;
const MODE_NAMES: Record<GuestMode, 'real16' | 'pm32' | 'long64'> = { real: 'real16', pm32: 'pm32', long64: 'long64' };

/** Runs `image` under the convention and returns how it ended. */
export function runGuest(driver: Driver, image: Uint8Array, options: GuestOptions): GuestRun {
  if (Convention.LOAD_ADDRESS + image.length > Convention.MMIO_HOLE_START) {
    throw new Error(`the guest is ${image.length} bytes; at most ${Convention.MMIO_HOLE_START - Convention.LOAD_ADDRESS} fit below the MMIO hole`);
  }
  const kvm = KvmClient.open(driver);
  const memory = driver.memory;
  const cleanup: (() => void)[] = [() => driver.close(kvm.system)];
  try {
    // Guest RAM outlives the VM: it is freed after the VM is closed.
    const ram = memory.alloc(Convention.RAM_SIZE, 4096);
    cleanup.push(() => memory.free(ram));
    memory.write(ram + Convention.LOAD_ADDRESS, image);
    if (options.mode === 'long64') memory.write(ram + Convention.PAGE_TABLES, identityMap());

    const vm = kvm.value(kvm.system, 'KVM_CREATE_VM', 0);
    cleanup.push(() => driver.close(vm));
    kvm.value(vm, 'KVM_SET_TSS_ADDR', TSS_ADDR);
    const slots = [
      { slot: 0, guest_phys_addr: 0n, memory_size: BigInt(Convention.MMIO_HOLE_START), userspace_addr: BigInt(ram) },
      { slot: 1, guest_phys_addr: BigInt(Convention.MMIO_HOLE_END), memory_size: BigInt(Convention.RAM_SIZE - Convention.MMIO_HOLE_END), userspace_addr: BigInt(ram + Convention.MMIO_HOLE_END) },
    ];
    for (const s of slots) kvm.struct(vm, 'KVM_SET_USER_MEMORY_REGION', { ...s, flags: 0 });

    const runSize = kvm.value(kvm.system, 'KVM_GET_VCPU_MMAP_SIZE');
    const vcpu = kvm.value(vm, 'KVM_CREATE_VCPU', 0);
    cleanup.push(() => driver.close(vcpu));
    const run = driver.mmap(vcpu, runSize, 0);
    if (run < 0) throw new Error(`mmap of the vCPU's kvm_run failed: ${errnoName(-run)}`);
    cleanup.push(() => driver.munmap(run, runSize));

    const cpuid = kvm.struct(kvm.system, 'KVM_GET_SUPPORTED_CPUID', { nent: 256 }).out;
    kvm.struct(vcpu, 'KVM_SET_CPUID2', cpuid);
    const sregs = kvm.struct(vcpu, 'KVM_GET_SREGS', {}).out;
    kvm.struct(vcpu, 'KVM_SET_SREGS', conventionSregs(sregs as unknown as KvmSregs, MODE_NAMES[options.mode]) as unknown as Fields);
    kvm.struct(vcpu, 'KVM_SET_REGS', { ...options.regs, rip: BigInt(Convention.LOAD_ADDRESS), rsp: BigInt(Convention.STACK_TOP), rflags: 2n });

    const result = serve(kvm, vcpu, run, options);
    return { ...result, regs: kvm.struct(vcpu, 'KVM_GET_REGS', {}).out };
  } finally {
    for (const undo of cleanup.reverse()) undo();
  }
}

/** PML4 -> PDPT -> PD with one 2 MiB page at 0, as the bytes of the three tables. */
function identityMap(): Uint8Array {
  const tables = new Uint8Array(3 * 4096);
  const view = new DataView(tables.buffer);
  const at = Convention.PAGE_TABLES;
  view.setBigUint64(0, BigInt(at + 4096) | 3n, true);
  view.setBigUint64(4096, BigInt(at + 2 * 4096) | 3n, true);
  view.setBigUint64(2 * 4096, 0x83n, true);
  return tables;
}

/** The run loop: KVM_RUN and serve each exit until the guest is done. */
function serve(kvm: KvmClient, vcpu: number, run: number, options: GuestOptions): Omit<GuestRun, 'regs'> {
  const memory = kvm.driver.memory;
  // Everything up to the union's end is what an exit describes; kvm_run's sync-regs area is unused.
  const headLength = kvm.offsetOf('kvm_run', 'kvm_valid_regs');
  const mmioData = kvm.offsetOf('kvm_run', 'mmio.data');
  const OUT = kvm.constant('KVM_EXIT_IO_OUT');
  const log = new RunLog(options);
  const done = log.done.bind(log);
  for (;;) {
    if (log.atLimit) return done('exit-limit', { detail: `${log.exitCount} exits` });
    const r = kvm.raw(vcpu, 'KVM_RUN');
    // A signal interrupted the run: run again (KVM_EXIT_INTR).
    if (r.ret < 0 && r.errno === constants.errno.EINTR) continue;
    if (r.ret < 0) throw new KvmCallError('KVM_RUN', r.errno);
    const described = decodeExit(kvm.set, kvm.abi, memory.read(run, headLength))!;
    const reason = described.reason ?? `exit ${described.reasonValue}`;
    const data = described.data as Fields;
    const exit = log.exit(reason);
    switch (reason) {
      case 'KVM_EXIT_IO': {
        const io = data;
        const access = { out: io.direction === OUT, port: io.port as number, size: io.size as number, count: io.count as number, at: run + Number(io.data_offset) };
        const exitCode = log.port(memory, access, exit);
        if (exitCode !== undefined) return done('exit-port', { exitCode });
        break;
      }
      case 'KVM_EXIT_MMIO': {
        const mmio = data;
        const len = mmio.len as number;
        const isWrite = mmio.is_write !== 0;
        exit.mmio = { addr: mmio.phys_addr as bigint, len, isWrite, ...(isWrite ? { data: [...(mmio.data as Uint8Array).subarray(0, len)] } : {}) };
        if (!isWrite) memory.write(run + mmioData, new Uint8Array(len).fill(0xff));
        break;
      }
      case 'KVM_EXIT_HLT':
        return done('hlt');
      case 'KVM_EXIT_SHUTDOWN':
        return done('shutdown', { detail: 'the guest triple-faulted' });
      case 'KVM_EXIT_INTERNAL_ERROR': {
        const internal = data;
        return done('internal-error', { detail: `suberror ${String(internal.suberror)}` });
      }
      case 'KVM_EXIT_FAIL_ENTRY': {
        const fail = data;
        return done('fail-entry', { detail: `hardware entry failure reason 0x${(fail.hardware_entry_failure_reason as bigint).toString(16)}` });
      }
      case 'KVM_EXIT_INTR':
        break;
      default:
        return done('unexpected-exit', { detail: reason });
    }
  }
}
