// A real QEMU boot, recorded on /dev/kvm, replayed on the emulated core: QEMU's whole setup (the
// in-kernel irqchip, PIT, GSI routing, ioeventfds, coalesced MMIO/PIO, its capabilities, vCPU
// events, LAPIC, XSAVE, MSRs) is accepted with KVM's answers, and SeaBIOS runs on the core with its
// exits matching KVM's until the first thing the trace cannot pin: a PIT interrupt that KVM
// injected at a host-time instant. The report must name that source precisely.
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { replayTrace } from '../replayer/engine.js';
import { SchemaRegistry } from '../schemas/registry.js';
import { TraceReader } from '../traces/reader.js';
import { EmulatedKvm } from '../vmx/kvm/frontend.js';
import { cli } from './support/cli.js';
import { bootImage, qemuCommand, qemuSkipReason, QEMU_BOOT_STATUS, untilBooted } from './support/qemu.js';

const skip = qemuSkipReason;

/**
 * Events of a recording the replay reliably gets through: QEMU's setup (about 200 events) and
 * SeaBIOS's POST up to its first timer interrupt (about 2,990 of about 4,450 in the recordings made
 * while writing this test; the tick's host-time instant varies from one recording to the next).
 */
const RELIABLY_REPLAYED = 1800;

/** Records the boot (a failed SeaBIOS boot is tried again: see qemuCommand). */
function record(dir: string, image: string): string {
  const trace = join(dir, 'qemu.trace');
  const r = untilBooted(() => cli(['record', '-o', trace, '--', ...qemuCommand(image)], { timeout: 90_000 }));
  if (r.status !== QEMU_BOOT_STATUS) throw new Error(`QEMU under ioctlgrind record ended with status ${r.status}: ${r.stderr}`);
  return trace;
}

describe.skipIf(skip !== undefined)(`a QEMU boot recorded on KVM, replayed on the emulated core${skip ? ` (skipped: ${skip})` : ''}`, () => {
  it('replays QEMU\'s setup and SeaBIOS\'s exits until a PIT interrupt at host time, and names it', () => {
    const image = bootImage();
    const trace = record(dirname(image), image);

    let firstRun = Infinity;
    let total = 0;
    for (const e of TraceReader.open(trace)) {
      total++;
      if (e.type === 'ioctl' && e.request === 0xae80 && firstRun === Infinity) firstRun = e.seq;
    }
    const summary = replayTrace(trace, SchemaRegistry.default(), new EmulatedKvm(), 'emulator');

    // Everything QEMU set up was accepted with KVM's answers; host facts are host differences.
    expect(summary.events).toBeGreaterThan(firstRun);
    expect(summary.hostDifferences).toBeGreaterThan(0);
    expect(summary.events).toBeGreaterThanOrEqual(Math.min(RELIABLY_REPLAYED, total));
    if (summary.divergence) {
      // The first divergence is a run, and the report says what stopped it: the in-kernel PIT.
      expect(summary.divergence.name).toBe('KVM_RUN');
      expect(summary.divergence.source).toMatch(/^a PIT interrupt \(IRQ0, vector 0x8\) that KVM injected from its in-kernel PIT and 8259 at a host-time instant the trace does not pin/);
      expect(summary.divergence.source).toMatch(/fires every 54\.925 ms of host time/);
    }
  }, 300_000);
});
