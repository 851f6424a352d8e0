// The writer packs each event straight into its own buffer, after the frame's header. These check
// that the bytes are those of one frame per value (as encodeFrame makes them) whatever the sizes and
// alignments, when an event does not fit, and when other packs or another writer come in between.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { TraceEvent, TraceHeader } from '../traces/events.js';
import { codec, encodeFrame, MAGIC } from '../traces/frame.js';
import { TraceReader } from '../traces/reader.js';
import { TraceWriter, type TraceWriterOptions } from '../traces/writer.js';
import { EventBuilder, sampleHeader } from './support/trace-fixtures.js';

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'iog-writer-buffer-'));
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

function bytes(length: number, seed: number): Uint8Array {
  return Uint8Array.from({ length }, (_, i) => (i * 31 + seed) & 0xff);
}

/** Memory events whose payloads grow a byte at a time, so frames start at every alignment. */
function growingEvents(count: number, first = 0): TraceEvent[] {
  const b = new EventBuilder(16457, 16457);
  for (let i = 0; i < count; i++) b.add({ type: 'memory', why: 'write', addr: 0x1000 + i, data: bytes(first + i, i) });
  return b.events;
}

/** The file a writer must produce: the magic, then each value framed on its own. */
function expected(header: TraceHeader, events: TraceEvent[]): Buffer {
  return Buffer.concat([MAGIC, encodeFrame(header), ...events.map((e) => encodeFrame(e))]);
}

function write(file: string, events: TraceEvent[], options: TraceWriterOptions = {}): void {
  const writer = TraceWriter.create(file, sampleHeader(), options);
  for (const event of events) writer.write(event);
  writer.close();
}

describe('trace writer buffer', () => {
  it('writes each value as the one frame encodeFrame makes of it, at every alignment', () => {
    const file = path.join(dir, 'align.trace');
    const events = growingEvents(40);
    write(file, events);
    expect(fs.readFileSync(file)).toEqual(expected(sampleHeader(), events));
  });

  it('writes events that do not fit in what is left of the buffer, or in the buffer at all, or that msgpackr packs', () => {
    const file = path.join(dir, 'large.trace');
    // flushBytes 1000 makes a buffer of about 65 KiB: small events, then ones near and past its size.
    const b = new EventBuilder();
    for (const length of [10, 30_000, 50_000, 70_000, 20, 200_000, 5, 64 * 1024 - 30, 64 * 1024 + 900, 3]) {
      b.add({ type: 'memory', why: 'write', addr: 0x2000, data: bytes(length, length) });
      // Between them, one event-pack.ts leaves to msgpackr (a non-ASCII string).
      if (length === 20) b.add({ type: 'note', message: 'régions ✓' });
    }
    for (const flushEvents of [1, 3, 1000]) {
      write(file, b.events, { flushBytes: 1000, flushEvents });
      expect(fs.readFileSync(file)).toEqual(expected(sampleHeader(), b.events));
      expect([...TraceReader.open(file)]).toEqual(b.events);
    }
  });

  it('keeps its frames, and other packs keep theirs, when packs and another writer come in between', () => {
    const [fileA, fileB] = [path.join(dir, 'a.trace'), path.join(dir, 'b.trace')];
    const eventsA = growingEvents(300, 100);
    const eventsB = growingEvents(300, 7);
    const a = TraceWriter.create(fileA, sampleHeader(), { flushEvents: 1000, flushBytes: 1 << 20 });
    const b = TraceWriter.create(fileB, sampleHeader({ tool: 'b' }), { flushEvents: 1000, flushBytes: 1 << 20 });
    const kept: [Buffer, Buffer][] = [];
    for (let i = 0; i < eventsA.length; i++) {
      a.write(eventsA[i]);
      // A pack elsewhere between two appends, its result held on to past later appends.
      const packed = codec.pack({ other: i, data: bytes(i % 50, i) });
      kept.push([packed, Buffer.from(packed)]);
      b.write(eventsB[i]);
    }
    a.close();
    b.close();
    expect(fs.readFileSync(fileA)).toEqual(expected(sampleHeader(), eventsA));
    expect(fs.readFileSync(fileB)).toEqual(expected(sampleHeader({ tool: 'b' }), eventsB));
    for (const [packed, copy] of kept) expect(packed).toEqual(copy);
  });

  it('goes on writing whole frames after a value fails to pack', () => {
    const file = path.join(dir, 'failed.trace');
    const events = growingEvents(5, 3);
    const writer = TraceWriter.create(file, sampleHeader());
    writer.write(events[0]);
    writer.write(events[1]);
    const bad = { ...events[2], type: 'ioctl', fd: 3, request: 0xae80, arg: 2n ** 70n, ret: 0, errno: 0, regions: [] };
    expect(() => writer.write(bad as TraceEvent)).toThrow(RangeError);
    writer.write(events[3]);
    writer.write(events[4]);
    writer.close();
    const written = [events[0], events[1], events[3], events[4]];
    expect(fs.readFileSync(file)).toEqual(expected(sampleHeader(), written));
  });
});
