// The bundled monitor for raw guest binaries (docs/run.md) over the HAXM ABI, driving the driver as
// QEMU's target/i386/hax does: capability and version checks, CREATE_VM and the VM opened by path,
// NOTIFY_QEMU_VERSION, the RAM block (ADD_RAMBLOCK, or ALLOC_RAM without 64BIT_RAMBLOCK) mapped
// with SET_RAM around the MMIO hole, VCPU_CREATE and the vCPU opened by path, SETUP_TUNNEL, the
// registers with SET_REGS, then RUN serving port I/O (data in the I/O buffer) and fast MMIO
// (hax_fastmmio in the I/O buffer) through the tunnel. Same convention as the KVM monitor, in real
// and pm32 mode (long64 needs the identity map monitor.ts builds and does not export).

import { decodeExit } from '../../schemas/codec.js';
import { Convention, conventionSregs } from '../boot.js';
import type { Driver } from '../driver.js';
import { sregsFields, sregsOf } from '../haxm/state.js';
import type { KvmSregs } from '../state.js';
import { HaxmCallError, HaxmClient, MONITOR_API, type Fields } from './haxm-client.js';
import type { GuestMode } from './choices.js';
import { RunLog, type GuestOptions, type GuestRun } from './monitor.js';

export const HAXM_GUEST_MODES: readonly GuestMode[] = ['real', 'pm32'];

export interface HaxmGuestOptions extends GuestOptions {
  /**
   * Guest pages protected with PROTECT_RAM before the first run and given back (RWX) at their first
   * access, as an emulator loading a snapshot on demand does: each first touch is a PAGEFAULT exit.
   */
  lazy?: { gpa: number; size: number };
}

const MODE_NAMES: Record<GuestMode, 'real16' | 'pm32' | 'long64'> = { real: 'real16', pm32: 'pm32', long64: 'long64' };
const PAGE = 4096;
/** hax_fastmmio.direction: 0 a read, 1 a write, 2 (API 4) a move from gpa to gpa2. */
const MMIO_READ = 0;
const MMIO_WRITE = 1;
/** VMX basic exit reason of a triple fault, in hax_tunnel._exit_reason. */
const VMX_TRIPLE_FAULT = 2;

/** Runs `image` under the convention through HAXM and returns how it ended; `regs` is the final vcpu_state_t. */
export function runHaxmGuest(driver: Driver, image: Uint8Array, options: HaxmGuestOptions): GuestRun {
  if (!HAXM_GUEST_MODES.includes(options.mode)) throw new Error(`the HAXM monitor runs ${HAXM_GUEST_MODES.join(' and ')} guests, not ${options.mode}`);
  if (Convention.LOAD_ADDRESS + image.length > Convention.MMIO_HOLE_START) {
    throw new Error(`the guest is ${image.length} bytes; at most ${Convention.MMIO_HOLE_START - Convention.LOAD_ADDRESS} fit below the MMIO hole`);
  }
  const hax = HaxmClient.open(driver);
  const memory = driver.memory;
  const cleanup: (() => void)[] = [() => driver.close(hax.system)];
  try {
    const vmId = hax.struct(hax.system, 'HAX_IOCTL_CREATE_VM', 0).value;
    const vm = hax.openObject('vm', vmId);
    cleanup.push(() => driver.close(vm));
    hax.struct(vm, 'HAX_VM_IOCTL_NOTIFY_QEMU_VERSION', { cur_version: MONITOR_API.cur, least_version: MONITOR_API.min });

    const ram = memory.alloc(Convention.RAM_SIZE, PAGE);
    cleanup.push(() => memory.free(ram));
    memory.write(ram + Convention.LOAD_ADDRESS, image);
    if (hax.has('HAX_CAP_64BIT_RAMBLOCK')) hax.struct(vm, 'HAX_VM_IOCTL_ADD_RAMBLOCK', { start_va: BigInt(ram), size: BigInt(Convention.RAM_SIZE), reserved: 0n });
    else hax.struct(vm, 'HAX_VM_IOCTL_ALLOC_RAM', { size: Convention.RAM_SIZE, pad: 0, va: BigInt(ram) });
    const sections = [
      { start: 0, end: Convention.MMIO_HOLE_START },
      { start: Convention.MMIO_HOLE_END, end: Convention.RAM_SIZE },
    ];
    for (const s of sections) hax.struct(vm, 'HAX_VM_IOCTL_SET_RAM', { pa_start: BigInt(s.start), size: s.end - s.start, flags: 0, pad: new Uint8Array(3), va: BigInt(ram + s.start) });
    if (options.lazy) protect(hax, vm, options.lazy.gpa, options.lazy.size, 'HAX_RAM_PERM_NONE');

    hax.struct(vm, 'HAX_VM_IOCTL_VCPU_CREATE', 0);
    const vcpu = hax.openObject('vcpu', vmId, 0);
    cleanup.push(() => driver.close(vcpu));
    const tunnel = hax.struct(vcpu, 'HAX_VCPU_IOCTL_SETUP_TUNNEL', {}).out;

    const state = hax.struct(vcpu, 'HAX_VCPU_GET_REGS', {}).out;
    // Only the fields vcpu_state_t has are read back (sregsFields): no base for CR8 or the APIC is needed.
    const sregs = conventionSregs(sregsOf(state, {} as KvmSregs), MODE_NAMES[options.mode]);
    const regs: Fields = { _rip: BigInt(Convention.LOAD_ADDRESS), _rsp: BigInt(Convention.STACK_TOP), _rflags: 2n };
    for (const [name, value] of Object.entries(options.regs ?? {})) regs[`_${name}`] = value;
    hax.struct(vcpu, 'HAX_VCPU_SET_REGS', { ...state, ...sregsFields(sregs), ...regs });

    const result = serve(hax, vcpu, vm, { tunnel: Number(tunnel.va), io: Number(tunnel.io_va) }, options);
    return { ...result, regs: hax.struct(vcpu, 'HAX_VCPU_GET_REGS', {}).out };
  } finally {
    for (const undo of cleanup.reverse()) undo();
  }
}

function protect(hax: HaxmClient, vm: number, gpa: number, size: number, perm: 'HAX_RAM_PERM_NONE' | 'HAX_RAM_PERM_RWX'): void {
  hax.struct(vm, 'HAX_VM_IOCTL_PROTECT_RAM', { pa_start: BigInt(gpa), size: BigInt(size), flags: hax.constant(perm), reserved: 0 });
}

/** The run loop: RUN and serve each exit through the tunnel until the guest is done. */
function serve(hax: HaxmClient, vcpu: number, vm: number, at: { tunnel: number; io: number }, options: HaxmGuestOptions): Omit<GuestRun, 'regs'> {
  const memory = hax.driver.memory;
  const tunnelSize = hax.sizeOf(hax.set.runPage!.type);
  const fastmmio = { kind: 'struct', name: 'hax_fastmmio' } as const;
  const valueAt = at.io + hax.offsetOf('hax_fastmmio', 'value');
  const OUT = hax.constant('HAX_IO_OUT');
  const log = new RunLog(options);
  const done = log.done.bind(log);
  for (;;) {
    if (log.atLimit) return done('exit-limit', { detail: `${log.exitCount} exits` });
    const r = hax.raw(vcpu, 'HAX_VCPU_IOCTL_RUN');
    if (r.ret < 0) throw new HaxmCallError('HAX_VCPU_IOCTL_RUN', r.errno);
    const tunnel = memory.read(at.tunnel, tunnelSize);
    const described = decodeExit(hax.set, hax.abi, tunnel)!;
    const reason = described.reason ?? `exit ${described.reasonValue}`;
    const exit = log.exit(reason);
    switch (reason) {
      case 'HAX_EXIT_IO': {
        const io = described.data as Fields;
        const access = { out: io._direction === OUT, port: io._port as number, size: io._size as number, count: io._count as number, at: at.io };
        const exitCode = log.port(memory, access, exit);
        if (exitCode !== undefined) return done('exit-port', { exitCode });
        break;
      }
      case 'HAX_EXIT_FAST_MMIO': {
        const mmio = hax.decode(fastmmio, memory.read(at.io, hax.sizeOf('hax_fastmmio')));
        const len = mmio.size as number;
        const isWrite = mmio.direction === MMIO_WRITE;
        const value = hax.encode({ kind: 'scalar', scalar: 'u64' }, mmio.value).subarray(0, len);
        exit.mmio = { addr: mmio.gpa as bigint, len, isWrite, ...(isWrite ? { data: [...value] } : {}) };
        // A move between two MMIO addresses (direction 2) needs no answer: the monitor does both halves.
        if (mmio.direction === MMIO_READ) memory.write(valueAt, new Uint8Array(len).fill(0xff));
        break;
      }
      case 'HAX_EXIT_PAGEFAULT': {
        const fault = described.data as Fields;
        const gpa = Number(fault.gpa as bigint);
        const lazy = options.lazy;
        if (!lazy || gpa < lazy.gpa || gpa >= lazy.gpa + lazy.size) return done('unexpected-exit', { detail: `page fault at gpa 0x${gpa.toString(16)} (flags 0x${String(fault.flags)})` });
        protect(hax, vm, gpa - (gpa % PAGE), PAGE, 'HAX_RAM_PERM_RWX');
        break;
      }
      case 'HAX_EXIT_HLT':
        return done('hlt');
      case 'HAX_EXIT_STATECHANGE': {
        const vmxReason = hax.decode({ kind: 'struct', name: hax.set.runPage!.type }, tunnel)._exit_reason as number;
        return vmxReason === VMX_TRIPLE_FAULT ? done('shutdown', { detail: 'the guest triple-faulted' }) : done('internal-error', { detail: `the vCPU stopped (VMX exit reason 0x${vmxReason.toString(16)})` });
      }
      case 'HAX_EXIT_INTERRUPT':
      case 'HAX_EXIT_PAUSED':
        break;
      default:
        return done('unexpected-exit', { detail: reason });
    }
  }
}
