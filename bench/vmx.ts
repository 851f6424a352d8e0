// The emulated VMX core: guest instructions per second on the long64 compute loop (beside
// iced-x86's bare decode rate, which is what an interpreter without a decode cache would be
// bounded by), and exits per second on a port I/O loop. The guests are test/guests/*.asm,
// assembled with nasm; without nasm the rows say so.

import { Decoder, DecoderOptions, Instruction } from 'iced-x86';
import { ExitReason, Machine, runConventionGuest, setupConventionGuest, Vcpu } from '../vmx/index.js';
import { assembleGuest } from './guests.js';
import type { BenchRow } from './row.js';
import { rate, timeIt } from './row.js';

const COMPUTE_ITERATIONS = 2_000_000n;
const IO_ITERATIONS = 200_000n;


/** A long64 vCPU with the guest loaded and RDI (the guests' iteration count) set. */
function boot(image: Uint8Array, iterations: bigint): Vcpu {
  const machine = new Machine();
  const vcpu = new Vcpu(machine);
  setupConventionGuest(machine, vcpu, image, 'long64');
  const regs = vcpu.getRegs();
  regs.rdi = iterations;
  vcpu.setRegs(regs);
  return vcpu;
}

/** Instructions per second iced-x86 decodes with one reused Decoder and Instruction. */
function icedDecodeRate(image: Uint8Array): number {
  const decoder = new Decoder(64, image, DecoderOptions.None);
  const insn = new Instruction();
  let count = 0;
  const ms = timeIt(() => {
    for (let round = 0; round < 20_000; round++) {
      decoder.position = 0;
      while (decoder.canDecode) {
        decoder.decodeOut(insn);
        count++;
      }
    }
  });
  insn.free();
  decoder.free();
  return rate(count, ms);
}

export async function benchVmx(): Promise<BenchRow[]> {
  const compute = assembleGuest('long64-compute');
  const io = assembleGuest('io-loop');
  if (compute === undefined || io === undefined) {
    return [{ bench: 'vmx', what: 'emulated core', value: 'skipped', unit: 'nasm or test/guests not found' }];
  }
  // One short run first so the measured run sees optimised code, as a long-lived replayer would.
  runConventionGuest(boot(compute, 10_000n));
  const vcpu = boot(compute, COMPUTE_ITERATIONS);
  const computeMs = timeIt(() => {
    runConventionGuest(vcpu);
  });
  const instructions = vcpu.instructionsRetired;
  const iced = icedDecodeRate(compute);

  runConventionGuest(boot(io, 10_000n), { keepExits: 0 });
  const ioVcpu = boot(io, IO_ITERATIONS);
  let exits = 0;
  const ioMs = timeIt(() => {
    for (;;) {
      const e = ioVcpu.run();
      exits++;
      if (e.reason !== ExitReason.IO_INSTRUCTION || e.port === 0xf4) break;
    }
  });

  const ips = rate(instructions, computeMs);
  return [
    { bench: 'vmx', what: 'emulated core: long64 compute loop', value: ips, unit: 'guest instructions/s', ratio: `${(ips / iced).toFixed(1)}x iced-x86 bare decode, ${iced.toLocaleString('en-US')}/s` },
    { bench: 'vmx', what: 'emulated core: port I/O loop', value: rate(exits, ioMs), unit: 'exits/s' },
  ];
}
