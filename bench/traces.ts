// Trace throughput: writing and reading a trace file (framing, CRC, validation, file I/O) beside
// msgpackr's bare pack and unpack of the same events, so the ratio shows what the format costs.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { TraceEvent, TraceHeader } from '../traces/events.js';
import { packEvent } from '../traces/event-pack.js';
import { codec } from '../traces/frame.js';
import { TraceReader } from '../traces/reader.js';
import { TraceWriter } from '../traces/writer.js';
import type { BenchRow } from './row.js';
import { rate, timeIt } from './row.js';

const EVENTS = 200_000;

const HEADER: TraceHeader = {
  format: 'ioctlgrind-trace',
  formatVersion: 1,
  tool: 'ioctlgrind-bench',
  schemaSets: ['kvm-linux'],
  host: { hostname: os.hostname(), kernel: os.release(), arch: os.arch() },
  command: ['bench'],
  abi: 'lp64',
  recorder: 'native',
  exact: false,
  memcheck: false,
  startedAt: new Date().toISOString(),
};

function bytes(length: number, seed: number): Uint8Array {
  return Uint8Array.from({ length }, (_, i) => (i * 31 + seed) & 0xff);
}

/**
 * A vCPU loop as a monitor drives it: GET_REGS (struct kvm_regs out), SET_REGS (in), KVM_RUN with
 * its kvm_run page, a guest-memory write, and GET_ONE_REG with the register behind its pointer.
 */
function vcpuLoop(count: number): TraceEvent[] {
  const regs = bytes(144, 1);
  const run = bytes(2352, 2);
  const oneReg = bytes(16, 3);
  const reg = bytes(8, 4);
  const guest = bytes(64, 5);
  const arg = 0x7ffd_0000_1000;
  const events: TraceEvent[] = [];
  for (let seq = 0; seq < count; seq++) {
    const base = { seq, pid: 4242, tid: 4243, t: seq * 1500 };
    const ioctl = { ...base, type: 'ioctl' as const, fd: 12, arg, ret: 0, errno: 0, dt: 900 };
    switch (seq % 5) {
      case 0:
        events.push({ ...ioctl, request: 0x8090ae81, regions: [{ role: 'arg', addr: arg, length: 144, dir: 'out', after: regs }] });
        break;
      case 1:
        events.push({ ...ioctl, request: 0x4090ae82, regions: [{ role: 'arg', addr: arg, length: 144, dir: 'in', before: regs }] });
        break;
      case 2:
        events.push({ ...ioctl, request: 0xae80, arg: 0, regions: [{ role: 'run', addr: 0x7f00_0000_0000, length: 2352, dir: 'inout', after: run }] });
        break;
      case 3:
        events.push({ ...base, type: 'memory', why: 'write', addr: 0x7f10_0000_8000, data: guest });
        break;
      default:
        events.push({
          ...ioctl,
          request: 0x4010aeab,
          regions: [
            { role: 'arg', addr: arg, length: 16, dir: 'in', before: oneReg },
            { role: 'addr', addr: arg + 64, length: 8, dir: 'out', after: reg },
          ],
        });
    }
  }
  return events;
}

/** The measured bodies; each returns the bytes it went through. */
function phases(events: TraceEvent[], file: string) {
  const scratch = Buffer.allocUnsafe(1 << 20);
  // Packed ahead for the unpack body, copied out because pack reuses its buffer.
  const payloads = events.map((e) => Buffer.from(codec.pack(e)));
  return {
    pack: () => {
      let n = 0;
      for (const e of events) n += codec.pack(e).length;
      return n;
    },
    packEvent: () => {
      let n = 0;
      for (const e of events) n += packEvent(e, scratch, 0, scratch.length);
      return n;
    },
    unpack: () => {
      let n = 0;
      for (const b of payloads) n += codec.unpack(b) ? b.length : 0;
      return n;
    },
    write: () => {
      const writer = TraceWriter.create(file, HEADER);
      for (const e of events) writer.write(e);
      writer.close();
      return fs.statSync(file).size;
    },
    read: () => {
      let read = 0;
      for (const _ of TraceReader.open(file)) read++;
      if (read !== events.length) throw new Error(`bench: read ${read} of ${events.length} events back`);
      return fs.statSync(file).size;
    },
  };
}

export async function benchTraces(): Promise<BenchRow[]> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ioctlgrind-bench-'));
  const file = path.join(dir, 'bench.trace');
  try {
    // A short untimed round first, so that every body is compiled before it is timed.
    const warm = phases(vcpuLoop(EVENTS / 10), file);
    for (const body of Object.values(warm)) body();
    const run = phases(vcpuLoop(EVENTS), file);
    const measured = Object.fromEntries(
      (['pack', 'packEvent', 'unpack', 'write', 'read'] as const).map((name) => {
        let bytes = 0;
        const ms = timeIt(() => {
          bytes = run[name]();
        });
        return [name, { ms, bytes }];
      }),
    ) as Record<'pack' | 'packEvent' | 'unpack' | 'write' | 'read', { ms: number; bytes: number }>;
    const row = (name: keyof typeof measured, what: string, bare?: keyof typeof measured): BenchRow[] => {
      const { ms, bytes } = measured[name];
      const ratio = bare ? { ratio: `${(measured[bare].ms / ms).toFixed(2)}x msgpackr's ${bare} speed` } : {};
      return [
        { bench: 'traces', what, value: rate(EVENTS, ms), unit: 'events/s', ...ratio },
        { bench: 'traces', what, value: Math.round(bytes / 1e3 / ms), unit: 'MB/s' },
      ];
    };
    return [
      ...row('pack', `msgpackr pack (${EVENTS} vCPU-loop events)`),
      ...row('packEvent', "the writer's event packer (the same bytes)", 'pack'),
      ...row('write', 'trace write (frames, CRC, writeSync)', 'pack'),
      ...row('unpack', 'msgpackr unpack'),
      ...row('read', 'trace read (CRC, unpack, validation)', 'unpack'),
      { bench: 'traces', what: 'trace file size', value: Math.round(measured.write.bytes / 1e6), unit: 'MB' },
    ];
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
