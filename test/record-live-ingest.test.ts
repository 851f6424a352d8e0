// Ingest follows the raw logs while the shim writes them: it stops at a record not yet committed
// and resumes there, and hands every chunk it has read back to the shim, which fills it again.

import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { prepareRawDir } from '../recorder/record.js';
import { RAW_CHUNK, RawLog, parseRawLog, wholeFile } from '../recorder/rawlog.js';
import { shimPath } from '../recorder/spawn.js';
import { SchemaRegistry } from '../schemas/registry.js';
import { buildMonitors, kvmSkipReason, recordCommand, tempDir } from './support/monitors.js';

/** Runs kvmmon under the shim alone (nothing reads the log meanwhile); returns the log's bytes. */
function rawLog(args: string[]): Buffer {
  const m = buildMonitors();
  const dir = tempDir('ioctlgrind-live-');
  const rules = prepareRawDir(dir, SchemaRegistry.default().set('kvm-linux'));
  const env = { ...process.env, LD_PRELOAD: shimPath('lp64'), IOCTLGRIND_DIR: dir, IOCTLGRIND_RULES: rules };
  const r = spawnSync(m.kvmmon, ['--quiet', ...args], { env });
  expect(r.status).toBe(0);
  const logs = readdirSync(dir).filter((f) => f.startsWith('raw-'));
  expect(logs).toHaveLength(1);
  return readFileSync(join(dir, logs[0]));
}

const seqs = (records: Iterable<{ seq: number }>) => [...records].map((r) => r.seq);

describe.skipIf(kvmSkipReason)(`live ingest (${kvmSkipReason ?? 'real /dev/kvm'})`, () => {
  it('stops at a record still being written and resumes there, losing and repeating nothing', () => {
    const bytes = rawLog([buildMonitors().guests.real]);
    const whole = parseRawLog(Buffer.from(bytes));
    const at = whole.records[7].offset;
    const type = bytes.readUInt16LE(at + 4);
    bytes.writeUInt16LE(0, at + 4); // reserved, not committed yet
    const log = new RawLog(wholeFile(bytes));
    const first = seqs(log.records(false));
    expect(first).toEqual(seqs(whole.records.slice(0, 7)));
    expect(seqs(log.records(false))).toEqual([]); // still not committed
    bytes.writeUInt16LE(type, at + 4);
    expect([...first, ...seqs(log.records(false))]).toEqual(seqs(whole.records));
    expect(log.uncommitted).toBe(0);
    expect(log.damage).toBeUndefined();
  });

  it('waits for a record whose length is not stored yet, and calls it damage once the writer is gone', () => {
    const bytes = rawLog([buildMonitors().guests.real]);
    const whole = parseRawLog(Buffer.from(bytes));
    bytes.writeUInt32LE(0, whole.records[4].offset);
    const log = new RawLog(wholeFile(bytes));
    expect(seqs(log.records(false))).toEqual(seqs(whole.records.slice(0, 4)));
    expect(log.damage).toBeUndefined();
    expect(seqs(log.records(true))).toEqual([]);
    expect(log.damage).toMatch(/has no length/);
  });

  it('zeroes each chunk it has read to the end and puts it in the free ring for the shim', () => {
    const bytes = rawLog(['--exits', '20000', buildMonitors().guests.exits]);
    const chunks = Math.ceil(bytes.length / RAW_CHUNK);
    expect(chunks).toBeGreaterThan(2); // nothing was reading: one new chunk per 4 MiB of records
    const whole = parseRawLog(Buffer.from(bytes));
    const log = new RawLog({ chunk: wholeFile(bytes).chunk, recycles: true });
    expect(seqs(log.records(false))).toEqual(seqs(whole.records));
    const ring = new Uint32Array(bytes.buffer, bytes.byteOffset, 20480 / 4);
    const [head, tail] = [ring[16 + 4096], ring[16 + 4097]];
    const freed = [...ring.subarray(16 + 4098, 16 + 4098 + tail)];
    // Every full chunk but the header's, in order; the last one may still be written.
    expect(head).toBe(0);
    expect(freed).toEqual(Array.from({ length: chunks - 2 }, (_, i) => i + 1));
    for (const p of freed) expect(bytes.subarray(p * RAW_CHUNK, (p + 1) * RAW_CHUNK).every((b) => b === 0)).toBe(true);
  });

  it('records a long run through a few reused chunks, every exit in order', async () => {
    const m = buildMonitors();
    const exits = 60000;
    const rec = await recordCommand([m.kvmmon, '--quiet', '--exits', String(exits), m.guests.exits]);
    expect(rec.exit.status).toBe(0);
    const runs = rec.trace.filter((e) => e.type === 'ioctl' && e.request === 0xae80);
    expect(runs.length).toBeGreaterThanOrEqual(exits);
    expect(rec.trace.map((e) => e.seq)).toEqual(rec.trace.map((_, i) => i));
    // Chunks went back to the shim: the file is smaller than the records written through it.
    expect(rec.rawBytes).toBeLessThan(rec.recordBytes);
  });
});
