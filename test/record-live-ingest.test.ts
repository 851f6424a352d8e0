// Ingest follows the raw logs while the shim writes them: it stops at a record not yet committed
// and resumes there, and hands every chunk it has read back to the shim, which fills it again.

import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Ingester } from '../recorder/ingest.js';
import { RAW_CHUNK, RawLog, parseRawLog, wholeFile } from '../recorder/rawlog.js';
import { record } from '../recorder/record.js';
import { buildMonitors, kvmSkipReason, recordCommand, shimOnly, tempDir } from './support/monitors.js';

function rawRun(args: string[]): { bytes: Buffer; path: string; dir: string } {
  const { dir, log } = shimOnly(args);
  return { bytes: readFileSync(log), path: log, dir };
}

const rawLog = (args: string[]) => rawRun(args).bytes;

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

  it('zeroes each chunk it has read to the end, empties its index slot and puts it in the free ring for the shim', () => {
    const bytes = rawLog(['--exits', '40000', buildMonitors().guests.exits]);
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
    // Their index slots are free for the chunks a lap later; the header's chunk 0 is never handed back.
    expect([...ring.subarray(16, 16 + chunks)]).toEqual([...Array(chunks - 1).fill(0), ring[16 + chunks - 1]]);
    expect(ring[16 + chunks - 1]).not.toBe(0);
  });

  it('records a long run through a few reused chunks, every exit in order', async () => {
    const m = buildMonitors();
    const exits = 150000; // 40 MB of records: ten chunks, were none handed back
    const rec = await recordCommand([m.kvmmon, '--quiet', '--exits', String(exits), m.guests.exits]);
    expect(rec.exit.status).toBe(0);
    const runs = rec.trace.filter((e) => e.type === 'ioctl' && e.request === 0xae80);
    expect(runs.length).toBeGreaterThanOrEqual(exits);
    expect(rec.trace.map((e) => e.seq)).toEqual(rec.trace.map((_, i) => i));
    // Chunks went back to the shim: the file is smaller than the records written through it.
    expect(rec.rawBytes).toBeLessThan(rec.recordBytes);
  });

  it('writes the oldest held-back events anyway when a number never gets its record', () => {
    const { bytes, path, dir } = rawRun(['--exits', '300', buildMonitors().guests.exits]);
    const whole = parseRawLog(Buffer.from(bytes));
    const gap = whole.records[20];
    bytes.writeUInt32LE(0x7fffffff, gap.offset + 8); // its number is never seen
    writeFileSync(path, bytes);
    const follow = (maxHeld?: number) => {
      const events: unknown[] = [];
      const ingester = new Ingester({ rawDir: dir, t0: 0n, abi: 'lp64', rootPid: 1, live: false, sink: (e) => events.push(e), maxHeld });
      ingester.poll();
      const held = events.length;
      ingester.finish({ pid: 1, status: 0 });
      return { held, all: events.length };
    };
    const strict = follow();
    expect(strict.held).toBeLessThanOrEqual(20); // everything after the gap waits for it
    const bounded = follow(50);
    expect(bounded.all).toBe(strict.all);
    expect(bounded.held).toBeGreaterThanOrEqual(bounded.all - 1 - 50 - 1); // at most 50 wait (and the exit comes at the end)
  });

  it('follows a log past the end of its chunk index: slots are reused a lap later', () => {
    const bytes = rawLog([buildMonitors().guests.real]);
    const whole = parseRawLog(Buffer.from(bytes));
    const HEADER = 20480;
    const INDEX = 64; // u32 slots, 4096 of them
    const cursor = Number(bytes.readBigUInt64LE(32));
    const records = bytes.subarray(HEADER, cursor);
    // The same records as logical chunk 4096 (slot 0 again, lap 2) in physical chunk 1; slot 0's
    // chunk 0 was read and its slot emptied, as ingest does.
    const lapped = Buffer.alloc(RAW_CHUNK + records.length);
    bytes.copy(lapped, 0, 0, HEADER);
    records.copy(lapped, RAW_CHUNK);
    lapped.writeBigUInt64LE(BigInt(4096 * RAW_CHUNK + records.length), 32);
    lapped.writeUInt32LE((2 << 16) | (1 + 1), INDEX);
    const log = new RawLog(wholeFile(lapped));
    expect(seqs(log.records(false))).toEqual([]); // chunks 0..4095 are not there yet
    expect(seqs(log.records(true))).toEqual(seqs(whole.records));
    expect(log.damage).toBeUndefined();
  });

  it('lets the target run to its end when ingest fails, then says why', async () => {
    const dir = tempDir('ioctlgrind-fail-');
    const done = join(dir, 'done');
    // A directory named like a raw log cannot be mapped: ingest fails while the target runs.
    const script = `mkdir "$IOCTLGRIND_DIR/raw-1-1.log"; sleep 0.2; touch ${done}; exit 7`;
    const err = await record({ command: ['sh', '-c', script], output: join(dir, 'x.trace'), memcheck: false }).catch((e: Error) => e);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toMatch(/raw-1-1\.log|EISDIR/);
    expect(existsSync(done)).toBe(true);
  });
});
