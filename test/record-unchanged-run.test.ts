// A KVM_RUN entry whose kvm_run header still holds what the previous exit record captured names
// that record instead of copying the 288 bytes again, and so does an exit that repeats the last one;
// the trace still carries them in full.

import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ingest } from '../recorder/ingest.js';
import { parseRawLog } from '../recorder/rawlog.js';
import type { IoctlEvent } from '../traces/events.js';
import { buildMonitors, kvmSkipReason, shimOnly } from './support/monitors.js';

const KVM_RUN = 0xae80;

const rawRun = (args: string[]) => shimOnly(args).dir;

const runRegion = (e: IoctlEvent) => e.regions.find((r) => r.role === 'run');

describe.skipIf(kvmSkipReason)(`unchanged kvm_run (${kvmSkipReason ?? 'real /dev/kvm'})`, () => {
  it('is named, not copied, in the raw log, and comes back whole in the trace', () => {
    const dir = rawRun([buildMonitors().guests.real]);
    const file = readdirSync(dir).find((f) => f.startsWith('raw-')) as string;
    const raw = parseRawLog(readFileSync(join(dir, file)));
    const entries = raw.records.flatMap((r) => (r.body.type === 'ioctlEnter' && r.body.request === KVM_RUN ? [r.body] : []));
    const named = entries.filter((b) => b.regions.some((g) => g.role === 'run' && g.sameAs !== undefined));
    expect(named.length).toBeGreaterThan(entries.length / 2);
    for (const b of named) expect(b.regions.find((g) => g.role === 'run')?.data.length).toBe(0);

    const runs = ingest({ rawDir: dir, t0: 0n, abi: 'lp64', root: { pid: 1, status: 0 } }).events
      .filter((e): e is IoctlEvent => e.type === 'ioctl' && e.request === KVM_RUN);
    expect(runs.length).toBe(entries.length);
    let changed = 0;
    for (let i = 1; i < runs.length; i++) {
      const before = runRegion(runs[i])?.before as Uint8Array;
      const previous = runRegion(runs[i - 1])?.after as Uint8Array;
      expect(before.length).toBe(288);
      expect(runRegion(runs[i])?.problem).toBeUndefined();
      if (Buffer.compare(before, previous) !== 0) changed++;
    }
    // The monitor answers the guest's MMIO read in kvm_run (mmio.data = 'Z'): that entry, and
    // only such entries, carry bytes of their own that differ from the exit before.
    expect(changed).toBeGreaterThan(0);
    expect(changed).toBe(entries.length - named.length - 1);
    const answered = runs.find((e, i) => i > 0 && Buffer.compare(runRegion(e)?.before as Uint8Array, runRegion(runs[i - 1])?.after as Uint8Array) !== 0);
    expect(runRegion(answered as IoctlEvent)?.before?.[40]).toBe(0x5a); // kvm_run.mmio.data[0] = 'Z'
    expect(runRegion(runs[runs.indexOf(answered as IoctlEvent) - 1])?.after?.[8]).toBe(6); // after KVM_EXIT_MMIO
  });

  it('names the last exit record when an exit repeats it, and the trace has the bytes', () => {
    const dir = rawRun(['--exits', '50', buildMonitors().guests.exits]);
    const file = readdirSync(dir).find((f) => f.startsWith('raw-')) as string;
    const raw = parseRawLog(readFileSync(join(dir, file)));
    const runEntries = new Set(raw.records.flatMap((r) => (r.body.type === 'ioctlEnter' && r.body.request === KVM_RUN ? [r.offset] : [])));
    const exits = raw.records.flatMap((r) => (r.body.type === 'ioctlExit' && runEntries.has(r.body.enterOffset) ? [r.body] : []));
    const named = exits.filter((b) => b.regions.some((g) => g.role === 'run' && g.sameAs !== undefined));
    // 50 OUTs to one port: all but the first such exit repeat the one before.
    expect(named.length).toBeGreaterThanOrEqual(49);
    for (const b of named) expect(b.regions.find((g) => g.role === 'run')?.data.length).toBe(0);

    const runs = ingest({ rawDir: dir, t0: 0n, abi: 'lp64', root: { pid: 1, status: 0 } }).events
      .filter((e): e is IoctlEvent => e.type === 'ioctl' && e.request === KVM_RUN);
    expect(runs.length).toBe(exits.length);
    let repeats = 0;
    for (let i = 1; i < runs.length; i++) {
      const after = runRegion(runs[i])?.after as Uint8Array;
      expect(after.length).toBe(288);
      expect(runRegion(runs[i])?.problem).toBeUndefined();
      if (Buffer.compare(after, runRegion(runs[i - 1])?.after as Uint8Array) === 0) repeats++;
    }
    expect(repeats).toBe(named.length);
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
