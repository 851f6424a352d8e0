// The in-process interposer: wraps any Driver (the real /dev/kvm through the addon, or the emulated
// core's KVM front-end) and writes the same trace format as the native shim. Regions come from the
// schemas (planRegions: the argument and every embedded pointer); KVM_RUN adds `run` (kvm_run's
// header and exit union) and `run.io` (the I/O data of the exit). Guest memory is logged as the
// native recorder logs it: non-zero pages at registration, and the pages the monitor wrote since
// the last run, before each run. On an exact driver every region also carries the bytes the driver
// read and wrote, from its access log. Families whose driver maps the run page itself and takes
// guest RAM in blocks (HAXM) are recorded the same way, through vmx/haxm/protocol.ts's facts.

import { arch, hostname, release } from 'node:os';
import { decodeExit, fieldLocation, readField, typeSize, type Decoded } from '../schemas/codec.js';
import type { Abi, IoctlSchema, SchemaSet } from '../schemas/model.js';
import { planRegions, type ObjectFacts } from '../schemas/regions.js';
import { SchemaRegistry, schemaStamp } from '../schemas/registry.js';
import type { MemoryEvent, Region, TraceEvent, TraceHeader } from '../traces/events.js';
import { ObjectGraph, type TraceObject } from '../traces/objects.js';
import { TraceWriter } from '../traces/writer.js';
import { isExact, PAGE_SIZE, type AddressSpace, type Driver, type IoctlResult, type UserAccess } from '../vmx/driver.js';
import { DRIVER_MEMORY } from '../vmx/haxm/protocol.js';

/** open(2) flags the drivers use: O_RDWR | O_CLOEXEC. */
const OPEN_FLAGS = 0o2 | 0o2000000;
const PROT_READ_WRITE = 3;
const MAP_SHARED = 1;
const ABI: Abi = 'lp64';

type Body<E> = E extends TraceEvent ? Omit<E, 'seq' | 'pid' | 'tid' | 't'> : never;

/** Where a vCPU's run page is, and its data page where the driver keeps exit data apart (HAXM's I/O buffer). */
interface RunPages {
  run: number;
  data?: number;
}

export interface InProcessOptions {
  /** The trace to write. */
  output: string;
  /** What the trace header names as the command. */
  command: string[];
  registry?: SchemaRegistry;
  /** The schema set the trace header names (default kvm-linux). */
  schemaSet?: string;
}

export class RecordingDriver implements Driver {
  readonly kind: Driver['kind'];
  readonly memory: AddressSpace;
  private readonly writer: TraceWriter;
  private readonly graph: ObjectGraph;
  private readonly registry: SchemaRegistry;
  private readonly set: SchemaSet;
  private readonly t0 = process.hrtime.bigint();
  private seq = 0;
  /** Pages of guest memory (by user address) the monitor wrote since the last run. */
  private readonly dirty = new Set<number>();
  private readonly stopListening: () => void;
  /** Run pages the driver mapped itself, learned from the request that reports them. */
  private readonly driverRunPages = new Map<TraceObject, RunPages>();
  /** Guest RAM registered as blocks of user memory (not as the graph's memory slots). */
  private readonly ramBlocks: { addr: number; length: number }[] = [];

  constructor(
    private readonly inner: Driver,
    options: InProcessOptions,
  ) {
    this.kind = inner.kind;
    this.memory = inner.memory;
    this.registry = options.registry ?? SchemaRegistry.default();
    this.set = this.registry.set(options.schemaSet ?? 'kvm-linux');
    this.graph = new ObjectGraph(this.registry, ABI);
    const header: TraceHeader = {
      format: 'ioctlgrind-trace',
      formatVersion: 1,
      tool: 'ioctlgrind 0.1.0',
      schemaSets: [schemaStamp(this.set)],
      host: { hostname: hostname(), kernel: release(), arch: arch() },
      command: options.command,
      abi: ABI,
      recorder: inner.kind === 'emulator' ? 'emulator' : 'kvm-inprocess',
      exact: isExact(inner),
      memcheck: false,
      startedAt: new Date().toISOString(),
    };
    this.writer = TraceWriter.create(options.output, header);
    this.stopListening = this.memory.onWrite((addr, length) => this.monitorWrote(addr, length));
  }

  open(path: string): number {
    const fd = this.inner.open(path);
    this.emit({ type: 'open', path, flags: OPEN_FLAGS, fd: fd < 0 ? -1 : fd, errno: fd < 0 ? -fd : 0 });
    return fd;
  }

  close(fd: number): number {
    const ret = this.inner.close(fd);
    this.emit({ type: 'close', fd, ret: ret < 0 ? -1 : 0, errno: ret < 0 ? -ret : 0 });
    return ret;
  }

  mmap(fd: number, length: number, offset: number): number {
    const addr = this.inner.mmap(fd, length, offset);
    if (addr < 0) this.emit({ type: 'note', message: `mmap of fd ${fd} (${length} bytes at offset ${offset}) failed with errno ${-addr}` });
    else this.emit({ type: 'mmap', fd, addr, length, prot: PROT_READ_WRITE, flags: MAP_SHARED, offset });
    return addr;
  }

  munmap(addr: number, length: number): number {
    const ret = this.inner.munmap(addr, length);
    if (ret === 0) this.emit({ type: 'munmap', addr, length });
    return ret;
  }

  ioctl(fd: number, request: number, arg: number | bigint): IoctlResult {
    const object = this.graph.objectFor(process.pid, fd);
    const set = object?.set ?? this.set;
    const schema = object?.set ? this.registry.lookup(request, object.kind, ABI, object.set.family) : undefined;
    const runPage = schema?.run && object ? this.runPageOf(object) : undefined;
    if (runPage !== undefined) this.flushGuestWrites();
    const regions = schema && object ? this.plan(set, schema, object, arg) : [];
    if (runPage !== undefined) regions.push(...this.runRegions(set, runPage));
    for (const r of regions) r.before = this.capture(r);

    const t = this.now();
    const result = this.inner.ioctl(fd, request, arg);
    const dt = Number(this.now() - t);

    for (const r of regions) if (r.role !== 'run.io') r.after = this.capture(r);
    if (runPage !== undefined) this.pairRunIo(set, regions, runPage);
    const accesses = isExact(this.inner) ? this.inner.lastAccesses() : [];
    for (const r of isExact(this.inner) ? regions : []) markAccesses(r, accesses);
    const seq = this.emit({ type: 'ioctl', fd, request: request >>> 0, arg, ret: result.ret, errno: result.errno, dt, regions }, t);
    // Bytes the driver touched that no region names: the schema misses a buffer, or the driver strays.
    const stray = accesses.filter((a) => !regions.some((r) => a.addr >= r.addr && a.addr + a.length <= r.addr + r.length));
    for (const a of stray) this.emit({ type: 'note', message: `${schema?.name ?? `request 0x${(request >>> 0).toString(16)}`} ${a.write ? 'wrote' : 'read'} ${a.length} bytes at 0x${a.addr.toString(16)}, outside every region its schema names` });
    if (result.ret >= 0 && schema && set.protocol?.setMemorySlot?.includes(schema.name)) this.registerSlot(fd, arg, seq);
    if (result.ret >= 0 && schema && object) this.driverMemory(set, schema, object, regions);
    return result;
  }

  /** Writes the exit event and closes the trace; the wrapped driver stays usable. */
  finish(status: number): void {
    this.emit({ type: 'exit', status });
    this.stopListening();
    this.writer.close();
  }

  private plan(set: SchemaSet, schema: IoctlSchema, object: TraceObject, arg: number | bigint): Region[] {
    if (schema.arg.kind !== 'pointer') return [];
    const facts: ObjectFacts = {
      kind: object.kind,
      ...(object.deviceType ? { deviceType: object.deviceType } : {}),
      slotSize: (slot) => (object.kind === 'vm' ? object : object.parent)?.slots.get(slot)?.memorySize,
    };
    // The fixed part first: the counts and pointers that size the rest are in it.
    const head = this.readable(Number(arg), typeSize(set, ABI, schema.arg.type) || (schema.sizes[ABI] ?? 0));
    return planRegions(set, ABI, schema, arg, head, facts).map((p) => ({ role: p.role, addr: p.addr, length: p.length, dir: p.dir, ...(p.problem ? { problem: p.problem } : {}) }));
  }

  /** The vCPU's run page: its mapping at offset 0 in this process (kvm_run), or where the driver mapped it. */
  private runPageOf(object: TraceObject): RunPages | undefined {
    const mapped = this.graph.mappingsOf(process.pid, object).find((m) => m.offset === 0)?.addr;
    return mapped !== undefined ? { run: mapped } : this.driverRunPages.get(object);
  }

  /**
   * kvm_run up to the sync-regs area `s`: the header, the exit union, and kvm_valid_regs and
   * kvm_dirty_regs, which KVM reads on every run (the native shim stops before those two). A run
   * page without a sync-regs area (hax_tunnel) is recorded whole.
   */
  private runLength(set: SchemaSet): number {
    const type = set.runPage!.type;
    return fieldLocation(set, ABI, type, 's')?.offset ?? typeSize(set, ABI, { kind: 'struct', name: type });
  }

  /**
   * kvm_run up to the sync-regs area `s`: the header, the exit union, and kvm_valid_regs and
   * kvm_dirty_regs, which KVM reads on every run (the native shim stops before those two).
   */
  private runRegions(set: SchemaSet, pages: RunPages): Region[] {
    return [{ role: 'run', addr: pages.run, length: this.runLength(set), dir: 'inout' }, ...this.ioRegion(set, pages)];
  }

  /** The exit data the page describes now: KVM_EXIT_IO's at data_offset, or the part of the driver's data page the exit uses. */
  private ioRegion(set: SchemaSet, pages: RunPages): Region[] {
    const head = this.readable(pages.run, this.runLength(set));
    const exit = head && decodeExit(set, ABI, head);
    if (!exit) return [];
    const facts = DRIVER_MEMORY[set.family];
    if (facts && pages.data !== undefined) {
      const d = facts.exitData(set, ABI, exit);
      return d ? [{ role: 'run.io', addr: pages.data + d.offset, length: d.length, dir: d.dir }] : [];
    }
    if (exit.reason !== 'KVM_EXIT_IO') return [];
    const io = exit.data as Record<string, Decoded>;
    const length = (io.size as number) * (io.count as number);
    const dir = io.direction === set.constants.KVM_EXIT_IO_IN ? 'out' : 'in';
    return [{ role: 'run.io', addr: pages.run + Number(io.data_offset), length, dir }];
  }

  /** The data of the previous exit (before) and of the new one (after): one region when they coincide. */
  private pairRunIo(set: SchemaSet, regions: Region[], pages: RunPages): void {
    const before = regions.find((r) => r.role === 'run.io');
    for (const r of this.ioRegion(set, pages)) {
      if (before && before.addr === r.addr && before.length === r.length) before.after = this.capture(r);
      else regions.push({ ...r, after: this.capture(r) });
    }
  }

  private capture(r: Region): Uint8Array | undefined {
    const bytes = this.readable(r.addr, r.length);
    if (!bytes && r.length > 0) r.problem ??= 'unmapped memory';
    return bytes;
  }

  private readable(addr: number, length: number): Uint8Array | undefined {
    return length > 0 && this.memory.mapped(addr, length) ? this.memory.read(addr, length) : undefined;
  }

  /** Guest memory at registration: the slot's non-zero pages, runs of them coalesced. */
  private registerSlot(fd: number, arg: number | bigint, seq: number): void {
    const vm = this.graph.objectFor(process.pid, fd);
    const slot = [...(vm?.slots.values() ?? [])].find((s) => s.seq === seq);
    if (!slot || slot.memorySize === 0) return;
    this.logRegistered(slot.userspaceAddr, slot.memorySize, `memory slot ${slot.slot} at 0x${slot.userspaceAddr.toString(16)} (from 0x${BigInt(arg).toString(16)})`);
  }

  /** The non-zero pages of newly registered guest memory, runs of them coalesced; a note when it is not mapped. */
  private logRegistered(addr: number, length: number, what: string): void {
    const bytes = this.readable(addr, length);
    if (!bytes) {
      this.emit({ type: 'note', message: `${what} is not mapped: its contents are not recorded` });
      return;
    }
    const nonZero = (p: number) => bytes.subarray(p, p + PAGE_SIZE).some((b) => b !== 0);
    this.emitRuns(addr, bytes.length, nonZero, 'register');
  }

  /** What a driver that takes RAM in blocks and maps its own run pages (vmx/haxm/protocol.ts) learned from a successful call. */
  private driverMemory(set: SchemaSet, schema: IoctlSchema, object: TraceObject, regions: Region[]): void {
    const facts = DRIVER_MEMORY[set.family];
    const arg = regions.find((r) => r.role === 'arg');
    if (!facts || !arg || schema.arg.kind !== 'pointer' || schema.arg.type.kind !== 'struct') return;
    const struct = schema.arg.type.name;
    const field = (name: string, bytes: Uint8Array | undefined) => Number((bytes && readField(set, ABI, struct, name, bytes)) ?? 0n);
    if (schema.name === facts.runPage.request) {
      this.driverRunPages.set(object, { run: field(facts.runPage.field, arg.after), data: field(facts.runPage.dataField, arg.after) });
    }
    const block = facts.ramBlocks[schema.name];
    if (block) {
      const addr = field(block.addr, arg.before);
      const length = field(block.size, arg.before);
      this.ramBlocks.push({ addr, length });
      this.logRegistered(addr, length, `RAM block at 0x${addr.toString(16)}+0x${length.toString(16)}`);
    }
  }

  private monitorWrote(addr: number, length: number): void {
    for (let page = Math.floor(addr / PAGE_SIZE) * PAGE_SIZE; page < addr + length; page += PAGE_SIZE) if (this.inGuestMemory(page)) this.dirty.add(page);
  }

  private inGuestMemory(page: number): boolean {
    return (
      this.graph.objects.some((o) => o.kind === 'vm' && [...o.slots.values()].some((s) => page >= s.userspaceAddr && page < s.userspaceAddr + s.memorySize)) ||
      this.ramBlocks.some((b) => page >= b.addr && page < b.addr + b.length)
    );
  }

  /** What the monitor wrote into guest memory since the last run: whole pages, runs coalesced. */
  private flushGuestWrites(): void {
    if (this.dirty.size === 0) return;
    const pages = [...this.dirty].sort((a, b) => a - b);
    this.dirty.clear();
    let start = pages[0];
    for (let i = 1; i <= pages.length; i++) {
      if (i < pages.length && pages[i] === pages[i - 1] + PAGE_SIZE) continue;
      const end = pages[i - 1] + PAGE_SIZE;
      this.emitRuns(start, end - start, () => true, 'write');
      start = pages[i];
    }
  }

  /** Memory events for the runs of pages of [addr, addr+length) that `keep` selects. */
  private emitRuns(addr: number, length: number, keep: (offset: number) => boolean, why: MemoryEvent['why']): void {
    const bytes = this.memory.read(addr, length);
    let run = -1;
    for (let p = 0; p <= length; p += PAGE_SIZE) {
      const kept = p < length && keep(p);
      if (kept && run < 0) run = p;
      if (!kept && run >= 0) {
        this.emit({ type: 'memory', why, addr: addr + run, data: bytes.slice(run, p) });
        run = -1;
      }
    }
  }

  private now(): bigint {
    return process.hrtime.bigint() - this.t0;
  }

  /** Writes the event with the next sequence number, and returns that number. */
  private emit(body: Body<TraceEvent>, t = this.now()): number {
    const event = { ...body, seq: ++this.seq, pid: process.pid, tid: process.pid, t: Number(t) } as TraceEvent;
    this.graph.apply(event);
    this.writer.write(event);
    return event.seq;
  }
}

/** Sets the region's read and written bitmaps from the driver's accesses (bit i: byte i). */
function markAccesses(region: Region, accesses: readonly UserAccess[]): void {
  const bits = () => new Uint8Array(Math.ceil(region.length / 8));
  const read = bits();
  const written = bits();
  for (const a of accesses) {
    const start = Math.max(a.addr, region.addr);
    const end = Math.min(a.addr + a.length, region.addr + region.length);
    const map = a.write ? written : read;
    for (let at = start; at < end; at++) map[(at - region.addr) >> 3] |= 1 << ((at - region.addr) & 7);
  }
  region.read = read;
  region.written = written;
}
