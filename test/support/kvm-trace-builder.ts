// Builds KVM traces for checker tests by request name and field values: numbers and layouts come
// from the schema registry, so a test says what a monitor did, not which bytes it wrote.

import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Abi, SchemaSet } from '../../schemas/model.js';
import { encodeType, type Decoded } from '../../schemas/codec.js';
import { argLength } from '../../schemas/regions.js';
import { SchemaRegistry } from '../../schemas/registry.js';
import type { Region, TraceEvent, TraceHeader } from '../../traces/events.js';
import { TraceWriter } from '../../traces/writer.js';
import { sampleHeader } from './trace-fixtures.js';

export interface CallOptions {
  /** The argument's fields before the call, or a value argument. */
  in?: Record<string, Decoded> | number | bigint;
  /** Fields the driver wrote (merged over `in` for the bytes after). */
  out?: Record<string, Decoded>;
  ret?: number;
  errno?: number;
  /** Byte ranges of the argument memcheck found undefined. */
  undef?: [number, number][];
  /** Buffers behind embedded pointers, by pointer field. */
  payloads?: Record<string, { before?: Uint8Array; after?: Uint8Array; undef?: [number, number][]; read?: [number, number][]; written?: [number, number][] }>;
  /** Exact traces: what the driver read and wrote of the argument. */
  read?: [number, number][];
  written?: [number, number][];
  /** Overrides the request number (a struct of the wrong size). */
  request?: number;
  /** Extra argument bytes beyond what the schema declares (exact traces). */
  extra?: number;
  /** Another schema set to take the request from (a monitor built with another header). */
  from?: string;
  /** Windows DeviceIoControl buffer lengths. */
  buffers?: { in: number; out: number };
}

export function bitmap(length: number, ranges: [number, number][]): Uint8Array {
  const out = new Uint8Array((length + 7) >> 3);
  for (const [a, b] of ranges) for (let i = a; i < b; i++) out[i >> 3] |= 1 << (i & 7);
  return out;
}

export class KvmTrace {
  readonly events: TraceEvent[] = [];
  readonly registry = SchemaRegistry.default();
  readonly set: SchemaSet;
  private nextAddr = 0x7ffd_0000_0000;
  readonly header: TraceHeader;

  /** `setId` picks the schema set requests are named from (kvm-linux, haxm-linux, ...). */
  constructor(header: Partial<TraceHeader> = {}, readonly pid = 4242, setId = 'kvm-linux') {
    this.header = sampleHeader({ command: ['./monitor'], ...header });
    this.set = this.registry.set(setId);
  }

  get abi(): Abi {
    return this.header.abi;
  }

  private push(event: Record<string, unknown>): void {
    this.events.push({ seq: this.events.length, pid: this.pid, tid: this.pid, ...event } as TraceEvent);
  }

  /** A fresh user address for a buffer. */
  addr(size = 4096): number {
    const a = this.nextAddr;
    this.nextAddr += Math.max(4096, size);
    return a;
  }

  open(path: string, fd: number): this {
    this.push({ type: 'open', path, flags: 2, fd, errno: 0 });
    return this;
  }

  close(fd: number): this {
    this.push({ type: 'close', fd, ret: 0, errno: 0 });
    return this;
  }

  /** The usual start: /dev/kvm as fd 3, its version asked, a VM on 4, vCPU 0 on 5 with registers set. */
  standard(): this {
    this.open('/dev/kvm', 3).call(3, 'KVM_GET_API_VERSION', { ret: 12 }).call(3, 'KVM_CREATE_VM', { ret: 4 }).call(4, 'KVM_CREATE_VCPU', { in: 0, ret: 5 });
    return this.call(5, 'KVM_SET_REGS', { in: { rip: 0x1000n, rflags: 2n } });
  }

  call(fd: number, name: string, o: CallOptions = {}): this {
    const set = o.from ? this.registry.set(o.from) : this.set;
    const ioctl = set.ioctls.find((i) => i.name === name);
    if (!ioctl) throw new Error(`no ioctl ${name} in ${set.id}`);
    const request = o.request ?? ioctl.numbers[this.abi];
    if (request === undefined) throw new Error(`${name} has no number on ${this.abi}`);
    const regions: Region[] = [];
    let arg: number | bigint = 0;
    if (ioctl.arg.kind === 'pointer') {
      const fields = (o.in ?? {}) as Record<string, Decoded>;
      const probe = new Uint8Array(1 << 16);
      if (o.in !== undefined) encodeType(set, this.abi, ioctl.arg.type, o.in, probe);
      const length = argLength(set, this.abi, ioctl, probe) + (o.extra ?? 0);
      const before = probe.slice(0, length);
      const after = before.slice();
      if (o.out) encodeType(set, this.abi, ioctl.arg.type, o.out, after);
      arg = this.addr(length);
      const region: Region = { role: 'arg', addr: arg, length, dir: ioctl.arg.dir, before, after };
      if (o.undef) region.undef = bitmap(length, o.undef);
      if (o.read) region.read = bitmap(length, o.read);
      if (o.written) region.written = bitmap(length, o.written);
      regions.push(region);
      for (const [role, p] of Object.entries(o.payloads ?? {})) {
        const rule = ioctl.arg.pointers?.find((r) => r.field === role);
        const bytes = p.before ?? p.after ?? new Uint8Array(0);
        const addr = Number(fields[role] ?? 0);
        const r: Region = { role, addr, length: bytes.length, dir: rule?.dir ?? 'in' };
        if (p.before) r.before = p.before;
        if (p.after) r.after = p.after;
        if (p.undef) r.undef = bitmap(bytes.length, p.undef);
        if (p.read) r.read = bitmap(bytes.length, p.read);
        if (p.written) r.written = bitmap(bytes.length, p.written);
        regions.push(r);
      }
    } else if (o.in !== undefined) {
      arg = o.in as number | bigint;
    }
    this.push({ type: 'ioctl', fd, request, arg, ret: o.ret ?? 0, errno: o.errno ?? 0, regions, ...(o.buffers ? { buffers: o.buffers } : {}) });
    return this;
  }

  write(): string {
    const path = join(mkdtempSync(join(tmpdir(), 'ioctlgrind-check-')), 'trace.bin');
    const w = TraceWriter.create(path, this.header);
    for (const e of this.events) w.write(e);
    w.close();
    return path;
  }
}
