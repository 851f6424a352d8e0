// A page the monitor writes at run after run is left unprotected and compared at each KVM_RUN
// instead of costing a fault round trip every time (userfaultfd method); every change still comes
// before the run that follows it, also across the page going cold (protected again) and hot again.

import { afterEach, describe, expect, it } from 'vitest';
import type { TraceEvent } from '../traces/events.js';
import { buildMonitors, kvmSkipReason, recordCommand } from './support/monitors.js';

const EXITS = 300;

/**
 * Walks the trace: at each KVM_RUN, the stamp page as recorded so far must hold what kvmmon
 * --stamp wrote last (the n-th port 0x80 exit it served writes n when n % 64 < 24).
 */
function check(trace: TraceEvent[]): { served: number; checked: number; wrong: string[]; writes: number } {
  let value = 0;
  let served = 0;
  let checked = 0;
  let writes = 0;
  const wrong: string[] = [];
  for (const e of trace) {
    if (e.type === 'memory' && e.data.length >= 8 && Buffer.from(e.data.subarray(0, 4)).toString('latin1') === 'STMP') {
      value = Buffer.from(e.data).readUInt32LE(4);
      writes++;
    }
    if (e.type !== 'ioctl' || e.request !== 0xae80) continue;
    let written = served;
    while (written > 0 && written % 64 >= 24) written--;
    if (written > 0) {
      checked++;
      if (value !== written) wrong.push(`before the run after exit ${served}: ${value}, not ${written}`);
    }
    const after = e.regions.find((g) => g.role === 'run')?.after;
    if (after && after[8] === 2 && (after[34] | (after[35] << 8)) === 0x80) served++; // KVM_EXIT_IO on port 0x80
  }
  return { served, checked, wrong, writes };
}

describe.skipIf(kvmSkipReason)(`a page written at every run (${kvmSkipReason ?? 'real /dev/kvm'})`, () => {
  afterEach(() => {
    delete process.env.IOCTLGRIND_MEMTRACK;
  });

  it.each([
    ['userfaultfd write-protect', undefined],
    ['PAGEMAP_SCAN', 'async'],
  ])('is recorded before each run that follows a change (%s)', async (_, method) => {
    if (method) process.env.IOCTLGRIND_MEMTRACK = method;
    const m = buildMonitors();
    const rec = await recordCommand([m.kvmmon, '--quiet', '--stamp', '--exits', String(EXITS), m.guests.exits]);
    expect(rec.exit.status).toBe(0);
    const { served, checked, wrong, writes } = check(rec.trace);
    expect(served).toBe(EXITS);
    expect(checked).toBeGreaterThan(EXITS - 10);
    expect(wrong).toEqual([]);
    // One record per change: 23 + 4 x 24 stamps in 300 exits, none lost, none repeated.
    expect(writes).toBe(119);
  });
});
