// A KVM_RUN entry whose kvm_run header still holds what the previous exit record captured names
// that record instead of copying the 288 bytes again, and so does an exit that repeats the last one;
// the trace still carries them in full.

import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ingest } from '../recorder/ingest.js';
import { parseRawLog, type RawRegion } from '../recorder/rawlog.js';
import type { IoctlEvent } from '../traces/events.js';
import { buildMonitors, kvmSkipReason, shimOnly } from './support/monitors.js';

const KVM_RUN = 0xae80;

const rawRun = (args: string[]) => shimOnly(args).dir;

const runRegion = (e: IoctlEvent) => e.regions.find((r) => r.role === 'run');

/** kvmmon ARGS under the shim alone: its raw log, and the KVM_RUN events ingest makes of it. */
function recordRaw(args: string[]) {
  const dir = rawRun(args);
  const file = readdirSync(dir).find((f) => f.startsWith('raw-')) as string;
  const raw = parseRawLog(readFileSync(join(dir, file)));
  const runs = ingest({ rawDir: dir, t0: 0n, abi: 'lp64', root: { pid: 1, status: 0 } }).events
    .filter((e): e is IoctlEvent => e.type === 'ioctl' && e.request === KVM_RUN);
  return { raw, runs };
}

/** The record bodies whose run region names an earlier exit record; none carries bytes of its own. */
function named<T extends { regions: RawRegion[] }>(bodies: T[]): T[] {
  const out = bodies.filter((b) => b.regions.some((g) => g.role === 'run' && g.sameAs !== undefined));
  for (const b of out) expect(b.regions.find((g) => g.role === 'run')?.data.length).toBe(0);
  return out;
}

/** How many runs' run region, before or after the call, differs from the previous run's after; each is whole. */
function differing(runs: IoctlEvent[], side: 'before' | 'after'): number {
  let n = 0;
  for (let i = 1; i < runs.length; i++) {
    const bytes = runRegion(runs[i])?.[side] as Uint8Array;
    expect(bytes.length).toBe(288);
    expect(runRegion(runs[i])?.problem).toBeUndefined();
    if (Buffer.compare(bytes, runRegion(runs[i - 1])?.after as Uint8Array) !== 0) n++;
  }
  return n;
}

describe.skipIf(kvmSkipReason)(`unchanged kvm_run (${kvmSkipReason ?? 'real /dev/kvm'})`, () => {
  it('is named, not copied, in the raw log, and comes back whole in the trace', () => {
    const { raw, runs } = recordRaw([buildMonitors().guests.real]);
    const entries = raw.records.flatMap((r) => (r.body.type === 'ioctlEnter' && r.body.request === KVM_RUN ? [r.body] : []));
    const names = named(entries);
    expect(names.length).toBeGreaterThan(entries.length / 2);
    expect(runs.length).toBe(entries.length);
    const changed = differing(runs, 'before');
    // The monitor answers the guest's MMIO read in kvm_run (mmio.data = 'Z'): that entry, and
    // only such entries, carry bytes of their own that differ from the exit before.
    expect(changed).toBeGreaterThan(0);
    expect(changed).toBe(entries.length - names.length - 1);
    const answered = runs.find((e, i) => i > 0 && Buffer.compare(runRegion(e)?.before as Uint8Array, runRegion(runs[i - 1])?.after as Uint8Array) !== 0);
    expect(runRegion(answered as IoctlEvent)?.before?.[40]).toBe(0x5a); // kvm_run.mmio.data[0] = 'Z'
    expect(runRegion(runs[runs.indexOf(answered as IoctlEvent) - 1])?.after?.[8]).toBe(6); // after KVM_EXIT_MMIO
  });

  it('names the last exit record when an exit repeats it, and the trace has the bytes', () => {
    const { raw, runs } = recordRaw(['--exits', '50', buildMonitors().guests.exits]);
    const runEntries = new Set(raw.records.flatMap((r) => (r.body.type === 'ioctlEnter' && r.body.request === KVM_RUN ? [r.offset] : [])));
    const exits = raw.records.flatMap((r) => (r.body.type === 'ioctlExit' && runEntries.has(r.body.enterOffset) ? [r.body] : []));
    const names = named(exits);
    // 50 OUTs to one port: all but the first such exit repeat the one before.
    expect(names.length).toBeGreaterThanOrEqual(49);
    expect(runs.length).toBe(exits.length);
    expect(runs.length - 1 - differing(runs, 'after')).toBe(names.length);
    expect(runs.filter((e) => runRegion(e)?.after?.[8] === 2 && e.regions.find((r) => r.role === 'run.io')?.after?.length === 1).length).toBeGreaterThanOrEqual(50); // KVM_EXIT_IO
  });

  it('that names an exit record not in the log gets a problem, not bytes from elsewhere', () => {
    const dir = rawRun([buildMonitors().guests.real]);
    const file = join(dir, readdirSync(dir).find((f) => f.startsWith('raw-')) as string);
    const bytes = readFileSync(file);
    const victim = parseRawLog(Buffer.from(bytes)).records.find((r) => r.body.type === 'ioctlEnter' && r.body.regions[0]?.sameAs !== undefined);
    if (victim?.body.type !== 'ioctlEnter') throw new Error('no named entry');
    // record header 32, entry body 24, region header 24, role "run" padded to 8: then the offset.
    const at = victim.offset + 32 + 24 + 24 + 8;
    expect(bytes.readBigUInt64LE(at)).toBe(BigInt(victim.body.regions[0].sameAs as number));
    bytes.writeBigUInt64LE(8n, at);
    writeFileSync(file, bytes);
    const runs = ingest({ rawDir: dir, t0: 0n, abi: 'lp64', root: { pid: 1, status: 0 } }).events
      .filter((e): e is IoctlEvent => e.type === 'ioctl' && e.request === KVM_RUN);
    const hurt = runs.filter((e) => runRegion(e)?.problem !== undefined);
    expect(hurt).toHaveLength(1);
    expect(runRegion(hurt[0])?.problem).toMatch(/earlier exit record that is not in the log/);
    expect(runRegion(hurt[0])?.before?.length).toBe(0);
  });
});
