// Checker speed on a trace of a million events, beside msgpackr's bare decode of the same frames,
// and the checker's heap after a quarter of the trace and after all of it (it should stay flat).

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { checkTrace } from '../checker/check.js';
import { encodeType } from '../schemas/codec.js';
import { SchemaRegistry } from '../schemas/registry.js';
import type { TraceEvent, TraceHeader } from '../traces/events.js';
import { codec, FRAME_HEADER_BYTES, MAGIC } from '../traces/frame.js';
import { TraceWriter } from '../traces/writer.js';
import type { BenchRow } from './row.js';
import { rate, timeIt } from './row.js';

const EVENTS = 1_000_000;

function header(): TraceHeader {
  return {
    format: 'ioctlgrind-trace', formatVersion: 1, tool: 'ioctlgrind-bench', schemaSets: ['kvm-linux'],
    host: { hostname: os.hostname(), kernel: os.release(), arch: os.arch() }, command: ['bench-monitor'],
    abi: 'lp64', recorder: 'native', exact: false, memcheck: true, startedAt: new Date().toISOString(),
  };
}

/** A monitor's vCPU loop: SET_REGS, KVM_RUN to a port write with its run page, GET_REGS. */
export function writeMonitorTrace(file: string, count: number): void {
  const registry = SchemaRegistry.default();
  const set = registry.set('kvm-linux');
  const n = (name: string) => registry.byIoctlName(name)!.ioctl.numbers.lp64!;
  const regs = new Uint8Array(144);
  encodeType(set, 'lp64', { kind: 'struct', name: 'kvm_regs' }, { rip: 0x1000n, rflags: 2n }, regs);
  const run = new Uint8Array(256);
  new DataView(run.buffer).setUint32(8, 2, true);
  const w = TraceWriter.create(file, header());
  const base = (seq: number) => ({ seq, pid: 4242, tid: 4243, t: seq * 1500 });
  const prologue: TraceEvent[] = [
    { ...base(0), type: 'open', path: '/dev/kvm', flags: 2, fd: 3, errno: 0 },
    { ...base(1), type: 'ioctl', fd: 3, request: n('KVM_GET_API_VERSION'), arg: 0, ret: 12, errno: 0, regions: [] },
    { ...base(2), type: 'ioctl', fd: 3, request: n('KVM_CREATE_VM'), arg: 0, ret: 4, errno: 0, regions: [] },
    { ...base(3), type: 'ioctl', fd: 4, request: n('KVM_CREATE_VCPU'), arg: 0, ret: 5, errno: 0, regions: [] },
  ];
  for (const e of prologue) w.write(e);
  const undef = new Uint8Array(18);
  for (let seq = prologue.length; seq < count; seq++) {
    const arg = 0x7ffd_0000_1000;
    switch (seq % 3) {
      case 0: w.write({ ...base(seq), type: 'ioctl', fd: 5, request: n('KVM_SET_REGS'), arg, ret: 0, errno: 0, regions: [{ role: 'arg', addr: arg, length: 144, dir: 'in', before: regs, after: regs, undef }] }); break;
      case 1: w.write({ ...base(seq), type: 'ioctl', fd: 5, request: n('KVM_RUN'), arg: 0, ret: 0, errno: 0, regions: [{ role: 'run', addr: 0x7f00_0000_0000, length: 256, dir: 'inout', before: run, after: run }] }); break;
      default: w.write({ ...base(seq), type: 'ioctl', fd: 5, request: n('KVM_GET_REGS'), arg, ret: 0, errno: 0, regions: [{ role: 'arg', addr: arg, length: 144, dir: 'out', before: regs, after: regs }] });
    }
  }
  w.close();
}

/** msgpackr's unpack of every frame, nothing else: the floor for any reader of the file. */
function rawDecode(file: string): number {
  const fd = fs.openSync(file, 'r');
  const size = fs.fstatSync(fd).size;
  const chunk = Buffer.allocUnsafe(64 << 20);
  let pos = MAGIC.length;
  let events = 0;
  try {
    let base = pos;
    let len = fs.readSync(fd, chunk, 0, chunk.length, base);
    let at = 0;
    while (pos < size) {
      if (at + FRAME_HEADER_BYTES > len || at + FRAME_HEADER_BYTES + chunk.readUInt32LE(at) > len) {
        base = pos;
        len = fs.readSync(fd, chunk, 0, chunk.length, base);
        at = 0;
      }
      const payload = chunk.readUInt32LE(at);
      codec.unpack(chunk.subarray(at + FRAME_HEADER_BYTES, at + FRAME_HEADER_BYTES + payload));
      at += FRAME_HEADER_BYTES + payload;
      pos = base + at;
      events++;
    }
  } finally {
    fs.closeSync(fd);
  }
  return events;
}

function heapAfterCheck(file: string, registry: SchemaRegistry): number {
  globalThis.gc?.();
  checkTrace(file, registry);
  globalThis.gc?.();
  return process.memoryUsage().heapUsed;
}

export async function benchCheck(): Promise<BenchRow[]> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ioctlgrind-bench-check-'));
  const big = path.join(dir, 'million.trace');
  const small = path.join(dir, 'quarter.trace');
  try {
    writeMonitorTrace(big, EVENTS);
    writeMonitorTrace(small, EVENTS / 4);
    const registry = SchemaRegistry.default();
    let frames = 0;
    const tRaw = timeIt(() => { frames = rawDecode(big); });
    let found = 0;
    const tCheck = timeIt(() => { found = checkTrace(big, registry).contexts.length; });
    const heapQuarter = heapAfterCheck(small, registry);
    const heapAll = heapAfterCheck(big, registry);
    const mb = fs.statSync(big).size / 1e6;
    return [
      { bench: 'check', what: `msgpackr unpack of ${frames.toLocaleString('en-US')} frames (${mb.toFixed(0)} MB)`, value: rate(frames, tRaw), unit: 'events/s' },
      { bench: 'check', what: `ioctlgrind check (${found} contexts)`, value: rate(EVENTS, tCheck), unit: 'events/s', ratio: `${(tCheck / tRaw).toFixed(1)}x msgpackr's bare unpack time` },
      { bench: 'check', what: 'heap after checking 250k events / 1M events', value: `${(heapQuarter / 1e6).toFixed(0)} / ${(heapAll / 1e6).toFixed(0)}`, unit: 'MB', ratio: globalThis.gc ? 'after gc' : 'run node with --expose-gc for exact figures' },
    ];
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
