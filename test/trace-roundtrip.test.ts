import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { TraceEvent } from '../traces/events.js';
import { encodeFrame, FRAME_HEADER_BYTES } from '../traces/frame.js';
import { TraceReader } from '../traces/reader.js';
import { TraceWriter } from '../traces/writer.js';
import { EventBuilder, kvmSampleEvents, sampleHeader, writeTrace } from './support/trace-fixtures.js';

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'iog-roundtrip-'));
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

function readAll(file: string): { reader: TraceReader; events: TraceEvent[] } {
  const reader = TraceReader.open(file);
  return { reader, events: [...reader] };
}

/** One event of every type, with values at the edges of their ranges. */
function everyEventType(): TraceEvent[] {
  const b = new EventBuilder(4242, 4243);
  b.add({ type: 'open', path: '/dev/kvm', flags: 0x80002, fd: 3, errno: 0 });
  b.add({ type: 'open', path: '/dev/nonexistent', flags: 0, fd: -1, errno: 2 });
  b.add({ type: 'dup', oldfd: 3, newfd: 9 });
  b.add({ type: 'mmap', fd: 3, addr: 0x7fff_ffff_f000, length: 8192, prot: 3, flags: 1, offset: 0 });
  b.add({ type: 'munmap', addr: 0x7fff_ffff_f000, length: 4096 });
  b.ioctl(3, 0xc008ae67, {
    arg: 0xffff_8880_1234_5678n, // a kernel pointer: beyond 2^53, must stay exact
    ret: -1,
    errno: 14,
    regions: [
      {
        role: 'arg',
        addr: 0x7ffd_0000_0000,
        length: 12,
        dir: 'inout',
        before: Uint8Array.from([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 255]),
        after: Uint8Array.from([255, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 0]),
        undef: Uint8Array.from([0xf0, 0x01]),
        allocSite: 'main (qemu.c:12)',
        read: Uint8Array.from([0xff, 0x0f]),
        written: Uint8Array.from([0x01, 0x08]),
      },
      { role: 'entries[3]', addr: 0x1000, length: 4096, dir: 'out', problem: 'unreadable memory' },
    ],
  });
  b.ioctl(3, 0xae41, { arg: 2n ** 64n - 1n, ret: 5 });
  b.ioctl(3, 0xae41, { arg: -(2n ** 63n), ret: 5 });
  b.add({ type: 'memory', why: 'write', addr: 0x7f10_0000_0000, data: Uint8Array.from([0xf4]) });
  b.add({ type: 'fork', child: 4250 });
  b.add({ type: 'exec', argv: ['/usr/bin/qemu', '-m', '128', ''] });
  b.add({ type: 'note', message: 'régions dropped: 3 ✓' });
  b.add({ type: 'close', fd: 3, ret: 0, errno: 0 });
  b.add({ type: 'exit', status: 0, signal: 9 });
  return b.events;
}

describe('trace round trip', () => {
  it('reads back every event type exactly: bigint stays bigint, bytes stay bytes', () => {
    const file = path.join(dir, 'all.trace');
    const events = everyEventType();
    const { header } = writeTrace(file, events);
    const { reader, events: read } = readAll(file);
    expect(reader.header).toEqual(header);
    expect(read).toEqual(events);
    expect(reader.truncated).toBeNull();
    const ioctl = read.find((e) => e.type === 'ioctl');
    expect(ioctl?.type === 'ioctl' && ioctl.arg).toBe(0xffff_8880_1234_5678n);
    expect(ioctl?.type === 'ioctl' && ioctl.regions[0].before).toBeInstanceOf(Uint8Array);
    expect(new Set(read.map((e) => e.type))).toEqual(
      new Set(['open', 'close', 'dup', 'mmap', 'munmap', 'ioctl', 'memory', 'fork', 'exec', 'exit', 'note']),
    );
  });

  it('keeps a small bigint a bigint and a number a number', () => {
    const file = path.join(dir, 'types.trace');
    const b = new EventBuilder();
    b.ioctl(3, 0xae41, { arg: 1n });
    b.ioctl(3, 0xae41, { arg: 2 ** 40 });
    writeTrace(file, b.events);
    const [small, large] = readAll(file).events;
    expect(small.type === 'ioctl' && small.arg).toBe(1n);
    expect(large.type === 'ioctl' && large.arg).toBe(2 ** 40);
  });

  it('creates the file with mode 0600, also over an existing file and under a permissive umask', () => {
    const file = path.join(dir, 'mode.trace');
    fs.writeFileSync(file, 'old contents', { mode: 0o644 });
    const previous = process.umask(0);
    try {
      writeTrace(file);
    } finally {
      process.umask(previous);
    }
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    expect(readAll(file).events).toEqual(kvmSampleEvents());
  });

  it('flushes whole frames as it goes, so a reader sees them before close', () => {
    const file = path.join(dir, 'flush.trace');
    const writer = TraceWriter.create(file, sampleHeader(), { flushEvents: 2 });
    const events = kvmSampleEvents();
    for (const event of events.slice(0, 5)) writer.write(event);
    // Four events are flushed in two batches; the fifth is still buffered.
    expect(readAll(file).events).toEqual(events.slice(0, 4));
    writer.flush();
    expect(readAll(file).events).toEqual(events.slice(0, 5));
    writer.close();
  });

  it('frames carry the standard CRC-32 of their payload', () => {
    // The definition, a bit at a time (reflected polynomial 0xEDB88320), against the frame's field.
    const reference = (bytes: Uint8Array) => {
      let c = ~0;
      for (const b of bytes) {
        c ^= b;
        for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      }
      return ~c >>> 0;
    };
    expect(reference(Buffer.from('123456789'))).toBe(0xcbf43926);
    for (const value of ['123456789', { seq: 1, data: new Uint8Array(300).fill(7) }]) {
      const frame = encodeFrame(value);
      expect(frame.readUInt32LE(4)).toBe(reference(frame.subarray(FRAME_HEADER_BYTES)));
    }
  });

  it('streams a trace larger than its read chunk, with frames larger than the chunk', () => {
    const file = path.join(dir, 'large.trace');
    const b = new EventBuilder();
    const big = new Uint8Array(3 * 1024 * 1024).map((_, i) => i & 0xff);
    b.add({ type: 'memory', why: 'register', addr: 0x10000, data: big });
    for (let i = 0; i < 20000; i++) b.ioctl(5, 0xae80, { arg: i });
    writeTrace(file, b.events);
    let count = 0;
    let last: TraceEvent | undefined;
    for (const event of TraceReader.open(file)) {
      if (count === 0) expect(event.type === 'memory' && Buffer.compare(event.data, big)).toBe(0);
      last = event;
      count++;
    }
    expect(count).toBe(20001);
    expect(last?.seq).toBe(20000);
  });
});
