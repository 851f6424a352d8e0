// Replay speed: the exit-heavy sample monitor recorded on /dev/kvm, then its trace replayed on the
// emulated core and on /dev/kvm, each beside the recording's own wall time, in one run.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { record } from '../recorder/record.js';
import { replayTrace } from '../replayer/engine.js';
import { makeDriver, type Target } from '../replayer/targets.js';
import { SchemaRegistry } from '../schemas/registry.js';
import { buildMonitors, kvmSkipReason } from '../test/support/monitors.js';
import type { BenchRow } from './row.js';
import { timeIt, timeItAsync } from './row.js';

const EXITS = 20_000;

export async function benchReplay(): Promise<BenchRow[]> {
  if (kvmSkipReason) return [{ bench: 'replay', what: 'skipped', value: kvmSkipReason, unit: '' }];
  const m = buildMonitors();
  const dir = mkdtempSync(join(tmpdir(), 'ioctlgrind-bench-replay-'));
  const output = join(dir, 'exits.trace');
  try {
    let targetMs = 0;
    const recordMs = await timeItAsync(async () => {
      const r = await record({ command: [m.kvmmon, '--quiet', '--exits', String(EXITS), m.guests.exits], output, memcheck: false });
      targetMs = Number(r.targetNs) / 1e6;
    });
    const rows: BenchRow[] = [
      { bench: 'replay', what: `recording ${EXITS.toLocaleString('en-US')} port-I/O exits on /dev/kvm (target run)`, value: Math.round(targetMs), unit: 'ms' },
      { bench: 'replay', what: 'recording, whole record command', value: Math.round(recordMs), unit: 'ms' },
    ];
    for (const target of ['emulator', 'kvm'] as Target[]) {
      let events = 0;
      let diverged = false;
      const ms = timeIt(() => {
        const s = replayTrace(output, SchemaRegistry.default(), makeDriver(target), target);
        events = s.replayed;
        diverged = s.divergence !== null;
      });
      rows.push({ bench: 'replay', what: `replay on ${target === 'kvm' ? '/dev/kvm' : 'the emulated core'} (${events} events${diverged ? ', diverged' : ''})`, value: Math.round(ms), unit: 'ms', ratio: `${(ms / targetMs).toFixed(2)}x the recorded run, ${(ms / recordMs).toFixed(2)}x the record command` });
    }
    return rows;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
