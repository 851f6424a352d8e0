// HAX_VCPU_IOCTL_RUN: complete what the last exit left in the I/O buffer, hand the core a pending
// interrupt, run it, and describe the exit in the hax_tunnel (and the I/O buffer) field by field,
// so that exact traces show the bytes the driver writes.

import { ExitReason, type VmExit } from '../index.js';
import type { HaxmCall, Handler } from './call.js';
import { constant } from './capabilities.js';
import { IOBUF_OFFSET, type VcpuObject } from './objects.js';
import type { SharedStructs } from './tunnel.js';

const FASTMMIO = 'hax_fastmmio';
const RFLAGS_DF = 1n << 10n;
/** hax_fastmmio.direction: 0 the guest reads (the monitor fills `value`), 1 it writes. */
const MMIO_READ = 0;
const MMIO_WRITE = 1;
/** hax_tunnel io._flags bit 0: a string instruction (INS/OUTS). */
const IO_STRING = 1;

/** The little-endian value of up to 8 bytes. */
const valueOf = (bytes: Uint8Array): bigint => bytes.subarray(0, 8).reduceRight((v, b) => (v << 8n) | BigInt(b), 0n);

/** Gives the answer the monitor left in the I/O buffer to the instruction the last exit stopped at. */
function complete(s: SharedStructs, vcpu: VcpuObject): void {
  const p = vcpu.pending;
  vcpu.pending = undefined;
  if (p?.kind === 'in') vcpu.core.completeIo(vcpu.shared.read(IOBUF_OFFSET, p.length));
  if (p?.kind === 'mmio-read') vcpu.core.completeMmio(vcpu.shared.read(IOBUF_OFFSET + s.offsetOf(FASTMMIO, 'value'), p.length));
}

/** HAXM keeps pending vectors in a bitmap and injects the highest first; the core holds one at a time. */
function injectInterrupt(vcpu: VcpuObject): void {
  if (vcpu.interrupts.size === 0 || vcpu.core.interruptQueued) return;
  const vector = Math.max(...vcpu.interrupts);
  vcpu.interrupts.delete(vector);
  vcpu.core.queueInterrupt(vector);
}

/** Completes a plain OUT at once (a run with no instruction budget finishes only what is pending). */
function retire(vcpu: VcpuObject): void {
  const after = vcpu.core.run({ maxInstructions: 0 });
  if (after.reason !== ExitReason.PREEMPTION_TIMER) throw new Error(`retiring an OUT gave exit ${after.reason}`);
}

function describe(call: HaxmCall, s: SharedStructs, vcpu: VcpuObject, exit: VmExit): void {
  const page = vcpu.shared;
  const set = call.structs.set;
  s.tunnel(page, '_exit_reason', exit.reason);
  switch (exit.reason) {
    case ExitReason.IO_INSTRUCTION: {
      s.status(page, 'HAX_EXIT_IO');
      s.tunnel(page, 'io._direction', constant(set, exit.direction === 'in' ? 'HAX_IO_IN' : 'HAX_IO_OUT'));
      s.tunnel(page, 'io._df', (vcpu.core.rflags & RFLAGS_DF) !== 0n ? 1 : 0);
      s.tunnel(page, 'io._size', exit.size);
      s.tunnel(page, 'io._port', exit.port);
      s.tunnel(page, 'io._count', exit.count);
      s.tunnel(page, 'io._flags', exit.string ? IO_STRING : 0);
      if (exit.direction === 'in') {
        vcpu.pending = { kind: 'in', length: exit.size * exit.count };
      } else {
        page.write(IOBUF_OFFSET, exit.data);
        // The driver retires a plain OUT before returning (RIP past it); string OUTs stay pending.
        if (!exit.string) retire(vcpu);
      }
      return;
    }
    case ExitReason.EPT_MISCONFIG: {
      s.status(page, 'HAX_EXIT_FAST_MMIO');
      const sregs = vcpu.core.getSregs();
      s.put(page, IOBUF_OFFSET, FASTMMIO, 'gpa', BigInt(exit.gpa));
      if (exit.isWrite) s.put(page, IOBUF_OFFSET, FASTMMIO, 'value', valueOf(exit.data));
      s.put(page, IOBUF_OFFSET, FASTMMIO, 'size', exit.size);
      s.put(page, IOBUF_OFFSET, FASTMMIO, 'direction', exit.isWrite ? MMIO_WRITE : MMIO_READ);
      for (const cr of ['cr0', 'cr2', 'cr3', 'cr4'] as const) s.put(page, IOBUF_OFFSET, FASTMMIO, `_${cr}`, sregs[cr]);
      if (!exit.isWrite) vcpu.pending = { kind: 'mmio-read', length: exit.size };
      return;
    }
    case ExitReason.EPT_VIOLATION: {
      // Qualification bits 0-2 are the access (ACC_R/W/X), bits 3-5 what the page allows (PERM_R/W/X).
      const q = exit.qualification;
      const bits = (names: string[], from: number) => names.reduce((f, name, i) => ((q >> (from + i)) & 1 ? f | constant(set, name) : f), 0);
      s.status(page, 'HAX_EXIT_PAGEFAULT');
      s.tunnel(page, 'pagefault.gpa', BigInt(exit.gpa));
      s.tunnel(page, 'pagefault.flags', bits(['HAX_PAGEFAULT_ACC_R', 'HAX_PAGEFAULT_ACC_W', 'HAX_PAGEFAULT_ACC_X'], 0) | bits(['HAX_PAGEFAULT_PERM_R', 'HAX_PAGEFAULT_PERM_W', 'HAX_PAGEFAULT_PERM_X'], 3));
      return;
    }
    case ExitReason.HLT:
      s.status(page, 'HAX_EXIT_HLT');
      return;
    case ExitReason.TRIPLE_FAULT:
    case ExitReason.INTERNAL_ERROR:
      // A triple fault shuts the vCPU down; an instruction the core cannot run panics it, as a failed
      // emulation panics a HAXM vCPU. Either way the monitor hears of a state change.
      vcpu.stopped = true;
      s.status(page, 'HAX_EXIT_STATECHANGE');
      return;
    case ExitReason.INTERRUPT_WINDOW:
    case ExitReason.EXTERNAL_INTERRUPT:
    case ExitReason.PREEMPTION_TIMER:
      s.status(page, 'HAX_EXIT_INTERRUPT');
      return;
  }
}

/** vcpu_execute: every way out reports whether an interrupt could be injected now, and the APIC base. */
function run(call: HaxmCall): number {
  const vcpu = call.object as VcpuObject;
  const s = call.haxm.shared;
  const page = vcpu.shared;
  try {
    if (vcpu.stopped) {
      s.status(page, 'HAX_EXIT_STATECHANGE');
      return 0;
    }
    complete(s, vcpu);
    injectInterrupt(vcpu);
    const requestInterruptWindow = s.tunnel(page, 'request_interrupt_window') !== 0;
    const budget = call.haxm.options.maxInstructionsPerRun;
    describe(call, s, vcpu, vcpu.core.run({ requestInterruptWindow, ...(budget === undefined ? {} : { maxInstructions: budget }) }));
    return 0;
  } finally {
    s.tunnel(page, 'ready_for_interrupt_injection', vcpu.core.readyForInterruptInjection ? 1 : 0);
    s.tunnel(page, 'apic_base', vcpu.core.apicBase);
  }
}

export const runHandlers: Record<string, Handler> = { HAX_VCPU_IOCTL_RUN: run };
