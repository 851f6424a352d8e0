// The writer packs events with traces/event-pack.ts, which must write exactly the bytes the trace
// codec (msgpackr) writes, or give up and leave the value to msgpackr. These compare the two on
// values at every edge of msgpack's encodings, on sample events of every type, and on every event
// of a real recording.

import { describe, expect, it } from 'vitest';
import { packEvent } from '../traces/event-pack.js';
import { codec } from '../traces/frame.js';
import { buildMonitors, kvmSkipReason, recordCommand } from './support/monitors.js';
import { EventBuilder, kvmSampleEvents } from './support/trace-fixtures.js';

/** One buffer for every pack, overwritten before each: what the packer keeps must not be views of it. */
const buffer = Buffer.alloc(1 << 21);
let fill = 0;

/** What packEvent writes for `value`, or undefined when it gives up. */
function fast(value: unknown): Buffer | undefined {
  buffer.fill(++fill & 0xff);
  const end = packEvent(value, buffer, 3, buffer.length);
  return end < 0 ? undefined : Buffer.from(buffer.subarray(3, end));
}

const msgpackr = (value: unknown) => Buffer.from(codec.pack(value));

function expectSameBytes(value: unknown): void {
  const packed = fast(value);
  expect(packed, `packEvent gave up on ${String(value)}`).toBeDefined();
  expect(packed?.toString('hex')).toBe(msgpackr(value).toString('hex'));
}

const ascii = (n: number) => 'abcdefghij'.repeat(Math.ceil(n / 10)).slice(0, n);
const bytes = (n: number) => Uint8Array.from({ length: n }, (_, i) => (i * 7) & 0xff);

describe('event packer', () => {
  it('encodes numbers at every edge of fixint, uint, int and float', () => {
    const edges = [0, 1, 0x1f, 0x20, 0x3f, 0x40, 0x7f, 0x80, 0xff, 0x100, 0xffff, 0x10000, 2 ** 32 - 1, 2 ** 32, 2 ** 53, 140018692366336];
    for (const n of edges) for (const v of [n, -n, n + 0.5]) expectSameBytes(v);
    for (const v of [-0x20, -0x21, -0x80, -0x81, -0x8000, -0x8001, -(2 ** 31), -(2 ** 31) - 1, -0, NaN, Infinity, -Infinity, 1e-300]) {
      expectSameBytes(v);
    }
  });

  it('encodes bigints as int64, and those past int64 as uint64', () => {
    for (const v of [0n, 1n, -1n, 2n ** 53n + 1n, 2n ** 63n - 1n, -(2n ** 63n), 2n ** 63n, 2n ** 64n - 1n]) expectSameBytes(v);
  });

  it('encodes strings, byte arrays, arrays and maps at each header size', () => {
    for (const n of [0, 1, 31, 32, 255, 256, 65535, 65536]) {
      expectSameBytes(ascii(n));
      expectSameBytes(bytes(n));
      expectSameBytes(Buffer.from(bytes(n)));
    }
    for (const n of [0, 15, 16, 65535, 65536]) expectSameBytes(Array.from({ length: n }, (_, i) => i));
    for (const n of [0, 1, 15, 16, 300]) expectSameBytes(Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, i])));
  });

  it('encodes null, undefined, booleans, keys with undefined values, and only own keys', () => {
    expectSameBytes([null, undefined, true, false]);
    expectSameBytes({ a: undefined, b: null, c: [undefined], 7: 'integer keys first', d: { e: {} } });
    const inherited = Object.create({ notOwn: 1 }) as Record<string, unknown>;
    inherited.own = 2;
    expectSameBytes({ nested: inherited });
  });

  it('gives up on what it does not encode as msgpackr does', () => {
    const others = [new Map([[1, 2]]), new Date(0), new Set([1]), new Int16Array(2), new Uint8Array(4).buffer, 2n ** 64n, -(2n ** 63n) - 1n];
    const strings = ['é', 'régions ✓', '\u{1f600}', '\ud800', ascii(40) + 'é'];
    for (const v of [...others, ...strings]) {
      expect(fast(v)).toBeUndefined();
      expect(fast({ type: 'note', message: v })).toBeUndefined();
    }
    expect(fast(Object.fromEntries(Array.from({ length: 0x10000 }, (_, i) => [`k${i}`, 0])))).toBeUndefined();
  });

  it('gives up when the value does not fit, writing nothing at or past the end', () => {
    const event = kvmSampleEvents().find((e) => e.type === 'ioctl' && e.regions.length > 0);
    const size = msgpackr(event).length;
    for (const end of [0, 1, 10, size - 1]) {
      const buffer = Buffer.alloc(size + 16, 0xa5);
      expect(packEvent(event, buffer, 0, end)).toBe(-1);
      expect(buffer.subarray(end).every((b) => b === 0xa5)).toBe(true);
    }
    const buffer = Buffer.alloc(size);
    expect(packEvent(event, buffer, 0, size)).toBe(size);
    expect(buffer).toEqual(msgpackr(event));
  });

  it('writes the sample events of every type as msgpackr does', () => {
    const b = new EventBuilder(4242, 4243);
    b.add({ type: 'open', path: '/dev/kvm', flags: 0x80002, fd: 3, errno: 0 });
    b.add({ type: 'dup', oldfd: 3, newfd: 9 });
    b.add({ type: 'mmap', fd: 3, addr: 0x7fff_ffff_f000, length: 8192, prot: 3, flags: 1, offset: 0 });
    b.add({ type: 'munmap', addr: 0x7fff_ffff_f000, length: 4096 });
    b.add({ type: 'memory', why: 'register', addr: 0x7f10_0000_0000, data: bytes(70_000) });
    b.add({ type: 'fork', child: 4250 });
    b.add({ type: 'exec', argv: ['/usr/bin/qemu', '-m', '128', ''] });
    b.add({ type: 'close', fd: 3, ret: 0, errno: 0 });
    b.add({ type: 'exit', status: 0, signal: 9 });
    for (const event of [...kvmSampleEvents(), ...b.events]) expectSameBytes(event);
  });

  it.skipIf(kvmSkipReason)(`writes every event of a real recording as msgpackr does (${kvmSkipReason ?? 'real /dev/kvm'})`, async () => {
    const m = buildMonitors();
    const { trace } = await recordCommand([m.kvmmon, '--quiet', m.guests.real]);
    expect(trace.some((e) => e.type === 'ioctl' && e.regions.some((r) => r.before && r.after))).toBe(true);
    for (const event of trace) expectSameBytes(event);
  });
});
