// `ioctlgrind run`'s monitor on /dev/kvm and on the emulated core, side by side in one run: exits
// per second on a port I/O loop, guest instructions per second on a 64-bit compute loop, both
// through the KVM ABI (test/guests/io-loop.asm and long64-compute.asm, assembled with nasm).

import type { Driver } from '../vmx/driver.js';
import { HostDriver, kvmUnavailable } from '../vmx/host/driver.js';
import { EmulatedKvm } from '../vmx/kvm/frontend.js';
import { runGuest } from '../vmx/monitor/monitor.js';
import { assembleGuest } from './guests.js';
import { rate, timeIt, type BenchRow } from './row.js';

const IO_EXITS = 50_000;
const COMPUTE_ITERATIONS = 500_000;
/** long64-compute.asm: 10 instructions an iteration. */
const INSTRUCTIONS_PER_ITERATION = 10;

interface Measured {
  exitsPerSecond: number;
  instructionsPerSecond: number;
}

function measure(open: () => Driver, io: Uint8Array, compute: Uint8Array): Measured {
  let exits = 0;
  const ioMs = timeIt(() => {
    exits = runGuest(open(), io, { mode: 'long64', regs: { rdi: BigInt(IO_EXITS) } }).exitCount;
  });
  const computeMs = timeIt(() => {
    runGuest(open(), compute, { mode: 'long64', regs: { rdi: BigInt(COMPUTE_ITERATIONS) } });
  });
  return { exitsPerSecond: rate(exits, ioMs), instructionsPerSecond: rate(COMPUTE_ITERATIONS * INSTRUCTIONS_PER_ITERATION, computeMs) };
}

export async function benchRun(): Promise<BenchRow[]> {
  const io = assembleGuest('io-loop');
  const compute = assembleGuest('long64-compute');
  if (!io || !compute) return [{ bench: 'run', what: 'guests (nasm is needed to assemble them)', value: 'skipped', unit: '' }];
  const emulated = measure(() => new EmulatedKvm(), io, compute);
  const why = kvmUnavailable();
  const kvm = why === undefined ? measure(() => new HostDriver(), io, compute) : undefined;
  const versus = (e: number, k: number | undefined) => (k === undefined ? `/dev/kvm skipped: ${why}` : `${(e / k).toFixed(2)}x /dev/kvm's ${k.toLocaleString('en-US')}`);
  return [
    ...(kvm ? [{ bench: 'run', what: `exits/s, port I/O loop on /dev/kvm`, value: kvm.exitsPerSecond, unit: 'exits/s' }] : []),
    { bench: 'run', what: 'exits/s, port I/O loop on the emulated core', value: emulated.exitsPerSecond, unit: 'exits/s', ratio: versus(emulated.exitsPerSecond, kvm?.exitsPerSecond) },
    ...(kvm ? [{ bench: 'run', what: 'guest instructions/s, long64 loop on /dev/kvm', value: kvm.instructionsPerSecond, unit: 'instr/s' }] : []),
    { bench: 'run', what: 'guest instructions/s, long64 loop on the emulated core', value: emulated.instructionsPerSecond, unit: 'instr/s', ratio: versus(emulated.instructionsPerSecond, kvm?.instructionsPerSecond) },
  ];
}
