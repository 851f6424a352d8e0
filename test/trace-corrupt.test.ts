import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TraceEvent } from '../traces/events.js';
import { encodeFrame, FRAME_HEADER_BYTES, MAGIC, putFrame, TraceError } from '../traces/frame.js';
import { TraceReader } from '../traces/reader.js';
import { kvmSampleEvents, sampleHeader, writeTrace } from './support/trace-fixtures.js';

let dir: string;
let whole: Buffer;
let firstEventOffset: number;

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'iog-corrupt-'));
  const file = path.join(dir, 'whole.trace');
  writeTrace(file);
  whole = fs.readFileSync(file);
  firstEventOffset = MAGIC.length + FRAME_HEADER_BYTES + whole.readUInt32LE(MAGIC.length);
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** Reads `bytes` as a trace file; returns the events read and the error thrown, if any. */
function read(bytes: Uint8Array, name = 'trace.bin'): { events: TraceEvent[]; error?: unknown; reader?: TraceReader } {
  const file = path.join(dir, name);
  fs.writeFileSync(file, bytes);
  const events: TraceEvent[] = [];
  let reader: TraceReader | undefined;
  try {
    reader = TraceReader.open(file);
    for (const event of reader) events.push(event);
    return { events, reader };
  } catch (error) {
    return { events, error, reader };
  }
}

/** A trace of the sample header followed by `frames` as they are. */
function traceOf(...frames: Buffer[]): Buffer {
  return Buffer.concat([MAGIC, encodeFrame(sampleHeader()), ...frames]);
}

function rawFrame(payload: number[]): Buffer {
  const frame = Buffer.alloc(FRAME_HEADER_BYTES + payload.length);
  putFrame(frame, 0, Buffer.from(payload));
  return frame;
}

/** The error's message, checked to be one line naming the file. */
function oneLine(error: unknown): string {
  expect(error).toBeInstanceOf(TraceError);
  const message = (error as TraceError).message;
  expect(message).not.toContain('\n');
  expect(message.startsWith(path.join(dir, 'trace.bin'))).toBe(true);
  return message;
}

const event = { seq: 1, pid: 100, tid: 100, type: 'close', fd: 3, ret: 0, errno: 0 };
const ioctl = { seq: 2, pid: 100, tid: 100, type: 'ioctl', fd: 3, request: 0xae80, arg: 0, ret: 0, errno: 0, regions: [] };
const region = { role: 'arg', addr: 0x1000, length: 4, dir: 'in' };

describe('corrupt traces', () => {
  it('rejects a file that is not a trace', () => {
    expect(oneLine(read(Buffer.from('#!/bin/sh\necho not a trace\n')).error)).toMatch(/bad magic at byte 0/);
    expect(oneLine(read(fs.readFileSync(new URL(import.meta.url))).error)).toMatch(/bad magic at byte 0/);
  });

  it('names the frame whose CRC does not match', () => {
    const bytes = Buffer.from(whole);
    bytes[firstEventOffset + FRAME_HEADER_BYTES + 2] ^= 0x40;
    const { error, events } = read(bytes);
    expect(events).toEqual([]);
    expect(oneLine(error)).toMatch(new RegExp(`corrupt frame at byte ${firstEventOffset}: CRC mismatch$`));
  });

  it('rejects an absurd frame length', () => {
    const bytes = Buffer.from(whole);
    bytes.writeUInt32LE(0xffff_fff0, firstEventOffset);
    expect(oneLine(read(bytes).error)).toMatch(new RegExp(`corrupt frame at byte ${firstEventOffset}: length \\d+ exceeds`));
  });

  it('rejects payloads that are not msgpack, or not one value', () => {
    const at = firstEventOffset;
    expect(oneLine(read(traceOf(rawFrame([0x92, 0x01]))).error)).toMatch(`corrupt frame at byte ${at}: payload is not valid msgpack`);
    expect(oneLine(read(traceOf(rawFrame([0x01, 0x02]))).error)).toMatch(`corrupt frame at byte ${at}: payload is not valid msgpack`);
    expect(oneLine(read(traceOf(rawFrame([0xc1]))).error)).toMatch(`invalid event at byte ${at}: event is not a map`);
  });

  it('rejects frames that are not valid events, naming the field', () => {
    const cases: [unknown, RegExp][] = [
      [{ ...event, seq: undefined }, /close event is missing field 'seq'/],
      [{ seq: 1, pid: 1, tid: 1 }, /event is missing field 'type'/],
      [{ ...event, type: 'teleport' }, /unknown event type "teleport"/],
      [{ ...event, fd: 'three' }, /close event field 'fd' must be an integer/],
      [{ ...event, fd: 2 ** 40 }, /close event field 'fd' must be an integer in \[-1, 2147483647\]/],
      [{ ...event, seq: -1 }, /field 'seq' must be an integer/],
      [{ ...event, seq: 1.5 }, /field 'seq' must be an integer/],
      [{ ...event, errno: 99999 }, /field 'errno' must be an integer in \[0, 4095\]/],
      [{ ...event, colour: 'red' }, /close event has unknown field 'colour'/],
      [[1, 2, 3], /event is not a map/],
      [{ ...ioctl, request: 2 ** 32 }, /field 'request'/],
      [{ ...ioctl, arg: 'x' }, /field 'arg' must be a number or bigint/],
      [{ ...ioctl, regions: {} }, /field 'regions' must be an array/],
      [{ ...ioctl, regions: [{ ...region, dir: 'sideways' }] }, /region field 'dir' must be one of/],
      [{ ...ioctl, regions: [{ ...region, before: new Uint8Array(3) }] }, /'arg' has 3 before bytes for a length of 4/],
      [{ ...ioctl, regions: [{ ...region, after: new Uint8Array(5), problem: 'partial' }] }, /5 after bytes for a length of 4/],
      [{ ...ioctl, regions: [{ ...region, undef: new Uint8Array(2) }] }, /2-byte undef bitmap for a length of 4/],
      [{ ...ioctl, regions: [{ ...region, before: 'abcd' }] }, /field 'before' must be a byte array/],
      [{ seq: 1, pid: 1, tid: 1, type: 'exec', argv: ['a', 7] }, /field 'argv' \[1\] must be a string/],
      [{ seq: 1, pid: 1, tid: 1, type: 'memory', why: 'register', addr: 0, data: [1, 2] }, /field 'data' must be a byte array/],
    ];
    for (const [value, expected] of cases) {
      const message = oneLine(read(traceOf(encodeFrame(value))).error);
      expect(message).toMatch(`invalid event at byte ${firstEventOffset}: `);
      expect(message).toMatch(expected);
    }
  });

  it('accepts a shorter capture where the region notes a problem', () => {
    const partial = { ...ioctl, regions: [{ ...region, before: new Uint8Array(2), problem: 'page 2 unreadable' }] };
    expect(read(traceOf(encodeFrame(partial))).error).toBeUndefined();
  });

  it('rejects an invalid header', () => {
    const bytes = Buffer.concat([MAGIC, encodeFrame({ ...sampleHeader(), abi: 'pdp11' })]);
    expect(oneLine(read(bytes).error)).toMatch(`invalid header at byte ${MAGIC.length}: header field 'abi' must be one of`);
  });

  it('never reads a flipped byte as something else: an error, a cut, or the same events', () => {
    const events = kvmSampleEvents();
    for (let at = 0; at < whole.length; at++) {
      const bytes = Buffer.from(whole);
      bytes[at] ^= 0x01;
      const result = read(bytes);
      if (result.error !== undefined) {
        expect(oneLine(result.error), `flip at ${at}`).toMatch(/ at byte \d+: /);
      } else {
        // A flipped length bit can make the last frames look cut: the rest must be untouched.
        expect(result.reader?.truncated, `flip at ${at}`).not.toBeNull();
      }
      expect(events.slice(0, result.events.length), `flip at ${at}`).toEqual(result.events);
    }
  });

  it('reports a file that cannot be opened in one line', () => {
    expect(() => TraceReader.open(path.join(dir, 'missing.trace'))).toThrow(
      /missing\.trace: cannot open: no such file or directory$/,
    );
  });
});
