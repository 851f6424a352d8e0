// Re-drives a driver (the emulated core, or the real /dev/kvm) with a trace's inputs: the same fds
// opened, guest memory rebuilt from the registrations and the monitor's writes, every ioctl re-issued
// with its recorded input bytes (pointers moved to where the replay put their buffers), the run page
// fed before each run; every output compared with the recorded one.

import type { Abi, Family, IoctlSchema, SchemaSet } from '../schemas/model.js';
import { decodeExit, fieldLocation, readField } from '../schemas/codec.js';
import { argByteDirections, declaresOut, planRegions, type PlannedRegion } from '../schemas/regions.js';
import type { SchemaRegistry } from '../schemas/registry.js';
import type { IoctlEvent, Region, TraceEvent } from '../traces/events.js';
import { ObjectGraph, type TraceObject } from '../traces/objects.js';
import { TraceReader, truncationMessage } from '../traces/reader.js';
import { PAGE_SIZE, type Driver } from '../vmx/driver.js';
import { DRIVER_MEMORY } from '../vmx/haxm/protocol.js';
import { errnoName } from '../schemas/errno.js';
import { AddressMap } from './address-map.js';
import { diffBytes, type FieldDiff } from './compare.js';
import type { Divergence, ReplaySummary } from './divergence.js';
import { guestContext } from './guest-context.js';
import { DRIVER_ABI, driverRequest, fromDriverAbi, toDriverAbi } from './abi-bridge.js';

export interface ReplayOptions {
  /** Stop before this seq and report the vCPU state there. */
  until?: number;
  keepGoing?: boolean;
}

interface Slot {
  gpa: bigint;
  size: bigint;
  /** Replay user address of the slot's memory. */
  replay: number;
}

const key = (pid: number, fd: number) => `${pid}:${fd}`;

/** A buffer the replay gave one region of a call; `driverLength` where the driver's layout is longer. */
interface Buffer {
  planned: PlannedRegion;
  recorded?: Region;
  at: number;
  length: number;
  driverLength?: number;
}

/**
 * Outputs that report the host, not the driver's model of the guest: a difference there is a host
 * difference (the monitor's later inputs carry the recorded value), not a divergence. By request
 * (`NAME` or `NAME@kind`), the output fields concerned and why.
 */
const HOST_STATE: { request: string; field: RegExp; msr?: number; source: string }[] = [
  { request: 'KVM_GET_MSRS@system', field: /^out\.entries\[\d+\]\.data$/, source: 'feature MSRs of the host CPU (KVM_GET_MSRS on /dev/kvm)' },
  { request: 'KVM_GET_TSC_KHZ', field: /^ret$/, source: 'the host\'s TSC frequency' },
  { request: 'KVM_GET_CLOCK', field: /^out\.(clock|flags|realtime|host_tsc)$/, source: 'kvmclock, which counts the host\'s time' },
  { request: 'KVM_GET_PIT2', field: /^out\.channels\[\d\]\.count_load_time$/, source: 'the PIT\'s count_load_time, a host ktime' },
  { request: 'KVM_GET_MSRS', field: /^out\.entries\[\d+\]\.data$/, msr: 0x10, source: 'the TSC, which KVM synchronises to the host\'s' },
  // Bytes 28-31 of the legacy area (MXCSR_MASK) and 464-511 (software-reserved) describe the host FPU.
  { request: 'KVM_GET_XSAVE2', field: /^out\.region\[(7|11[6-9]|12[0-7])\]$/, source: 'MXCSR_MASK and the XSAVE features of the host CPU' },
  { request: 'KVM_GET_XSAVE', field: /^out\.region\[(7|11[6-9]|12[0-7])\]$/, source: 'MXCSR_MASK and the XSAVE features of the host CPU' },
];

/**
 * Optional hooks of a replay driver that models the host's clock (the emulated core's in-kernel
 * PIT, TSC and kvmclock): it is told the recorded host time of each call, and can say what its
 * in-kernel devices did during a run that diverged.
 */
interface HostClocked {
  /** The recorded call ran from host time `start` to `end` (nanoseconds since the trace began). */
  setHostTime(start: bigint, end: bigint): void;
  explainRun(fd: number): string | undefined;
}

const hostClocked = (d: Driver): d is Driver & HostClocked => typeof (d as Partial<HostClocked>).setHostTime === 'function';

export class Replay {
  private readonly graph: ObjectGraph;
  private readonly fds = new Map<string, number>();
  private readonly addresses = new AddressMap();
  /** Guest memory of the replay, for reading the guest's code at a divergence. */
  private readonly slots = new Map<number, Slot>();
  /** Replay fd of each recorded vCPU object, for the guest context. */
  private readonly vcpuFds = new Map<TraceObject, number>();
  private readonly cpuidSet = new Set<TraceObject>();
  private hostTimers = false;
  readonly divergences: Divergence[] = [];
  /** Answers about the host that differ on the replay driver: expected, so not divergences. */
  readonly hostDifferences: Divergence[] = [];
  readonly skipped: Record<string, number> = {};
  replayed = 0;

  constructor(
    private readonly driver: Driver,
    registry: SchemaRegistry,
    private readonly abi: Abi,
    /** The family whose device paths the replay opens on `driver`. */
    private readonly family: Family = 'kvm',
  ) {
    this.graph = new ObjectGraph(registry, abi);
  }

  private skip(why: string): void {
    this.skipped[why] = (this.skipped[why] ?? 0) + 1;
  }

  /** Applies one event; returns the divergences it caused. */
  step(event: TraceEvent): Divergence[] {
    const before = this.divergences.length;
    const object = event.type === 'ioctl' ? this.graph.objectFor(event.pid, event.fd) : undefined;
    const ctx = this.graph.apply(event);
    switch (event.type) {
      case 'open': this.open(event.pid, event.path, event.fd, event.seq, ctx.created); break;
      case 'dup': {
        const r = this.fds.get(key(event.pid, event.oldfd));
        if (r !== undefined && event.newfd >= 0) this.fds.set(key(event.pid, event.newfd), r);
        break;
      }
      case 'close': this.close(event.pid, event.fd); break;
      case 'mmap': this.mmap(event.pid, event.fd, event.addr, event.length, event.offset); break;
      case 'munmap': {
        const at = this.addresses.translate(event.addr, event.length);
        if (at !== undefined) this.driver.munmap(at, event.length);
        this.addresses.remove(event.addr, event.length);
        break;
      }
      case 'memory': this.memory(event.addr, event.data); break;
      case 'fork':
        for (const [k, fd] of [...this.fds]) if (k.startsWith(`${event.pid}:`)) this.fds.set(key(event.child, Number(k.split(':')[1])), fd);
        break;
      case 'ioctl': this.ioctl(event, object ?? ctx.object, ctx.schema); break;
      default: break;
    }
    return this.divergences.slice(before);
  }

  private open(pid: number, path: string, fd: number, seq: number, created: TraceObject | undefined): void {
    // The object graph matched the path against every set's device paths (patterns such as /dev/hax_vm/vm%02d too).
    const ours = created?.family === this.family;
    if (!ours || fd < 0) return;
    const r = this.driver.open(path);
    this.replayed++;
    if (r < 0) {
      this.diverge({ seq, name: 'open', object: path, what: 'ret', recorded: String(fd), replayed: String(r) });
      return;
    }
    this.fds.set(key(pid, fd), r);
  }

  private close(pid: number, fd: number): void {
    const r = this.fds.get(key(pid, fd));
    if (r === undefined) return;
    this.fds.delete(key(pid, fd));
    if (![...this.fds.values()].includes(r)) this.driver.close(r);
    this.replayed++;
  }

  private mmap(pid: number, fd: number, addr: number, length: number, offset: number): void {
    const r = fd >= 0 ? this.fds.get(key(pid, fd)) : undefined;
    if (r === undefined) return;
    const at = this.driver.mmap(r, length, offset);
    this.replayed++;
    if (at >= 0) this.addresses.add(addr, length, at);
  }

  private memory(addr: number, data: Uint8Array): void {
    const at = this.addresses.translate(addr, data.length);
    if (at === undefined) {
      this.addresses.defer(addr, data);
      return;
    }
    this.driver.memory.write(at, data);
    this.replayed++;
  }

  /** Guest memory a slot registration names: placed in the replay, with what was written to it so far. */
  private placeGuestMemory(recorded: number, size: number): number | undefined {
    if (size === 0) return 0;
    let at = this.addresses.translate(recorded, size);
    if (at === undefined) {
      at = this.driver.memory.alloc(size, 4096);
      this.addresses.add(recorded, size, at);
      for (const w of this.addresses.takePlaced()) this.driver.memory.write(this.addresses.translate(w.addr, w.data.length)!, w.data);
    }
    return at;
  }

  private diverge(d: Divergence): void {
    this.divergences.push(d);
  }

  private ioctl(event: IoctlEvent, object: TraceObject | undefined, schema: IoctlSchema | undefined): void {
    const rfd = this.fds.get(key(event.pid, event.fd));
    if (rfd === undefined) return this.skip('ioctls on fds the replay never opened (files, sockets, or opened before recording)');
    const set = object?.set;
    if (!schema || !set || !object) return this.skip('requests no schema knows');
    const memory = this.driver.memory;
    const buffers = this.placeBuffers(event, object, set, schema);
    try {
      const argBuf = buffers.get('arg');
      let arg: number | bigint = event.arg;
      if (argBuf) {
        const recorded = new Uint8Array(argBuf.length);
        if (argBuf.recorded?.before) recorded.set(argBuf.recorded.before.subarray(0, argBuf.length));
        const bytes = toDriverAbi(set, schema, recorded, this.abi);
        if (bytes.length !== argBuf.length) {
          memory.free(argBuf.at);
          argBuf.at = memory.alloc(bytes.length, 8);
          argBuf.driverLength = bytes.length;
        }
        this.moveUserPointers(set, schema, bytes, buffers);
        memory.write(argBuf.at, bytes);
        arg = argBuf.at;
      }
      for (const b of buffers.values()) {
        if (b.planned.role !== 'arg' && b.recorded?.before) memory.write(b.at, b.recorded.before.subarray(0, b.length));
      }
      if (schema.run) this.feedRunPage(event);
      if (set.protocol?.setCpuid?.includes(schema.name)) this.cpuidSet.add(object);
      if (set.protocol?.hostTimers?.includes(schema.name)) this.hostTimers = true;
      if (hostClocked(this.driver) && event.t !== undefined) this.driver.setHostTime(BigInt(event.t), BigInt(event.t + (event.dt ?? 0)));
      const result = this.driver.ioctl(rfd, driverRequest(schema, event.request, this.abi), arg);
      this.replayed++;
      this.compareResult(event, object, schema, result);
      for (const b of buffers.values()) this.compareRegion(event, object, set, schema, b);
      if (schema.run) this.compareRunPage(event, object, set, schema);
      if (schema.returns.kind === 'fd') this.bindCreated(event, schema, result.ret, buffers.get('arg'));
      if (result.ret >= 0 && schema.name === DRIVER_MEMORY[set.family]?.runPage.request) this.mapDriverPages(set, schema, buffers.get('arg'));
      if (object.kind === 'vcpu') this.vcpuFds.set(object, rfd);
    } finally {
      for (const b of buffers.values()) memory.free(b.at);
    }
  }

  /** A buffer for each region the call touches; none where it takes no pointer (KVM_RUN, most calls of a replay). */
  private placeBuffers(event: IoctlEvent, object: TraceObject, set: SchemaSet, schema: IoctlSchema): Map<string, Buffer> {
    const buffers = new Map<string, Buffer>();
    if (schema.arg.kind !== 'pointer') return buffers;
    const argBefore = event.regions.find((r) => r.role === 'arg')?.before;
    const plan = planRegions(set, this.abi, schema, event.arg, argBefore, {
      kind: object.kind,
      deviceType: object.deviceType,
      slotSize: (slot) => (object.kind === 'vm' ? object : object.parent)?.slots.get(slot)?.memorySize,
    });
    for (const planned of plan) {
      const recorded = event.regions.find((r) => r.role === planned.role);
      const length = recorded?.length ?? planned.length;
      if (length === 0) continue;
      buffers.set(planned.role, { planned, recorded, at: this.driver.memory.alloc(length, 8), length });
    }
    return buffers;
  }

  /** Embedded pointers (in the driver's layout) get the addresses of the replay's buffers; guest memory its replay place. */
  private moveUserPointers(set: SchemaSet, schema: IoctlSchema, bytes: Uint8Array, buffers: Map<string, { at: number }>): void {
    const arg = schema.arg;
    if (arg.kind !== 'pointer' || arg.type.kind !== 'struct') return;
    const struct = arg.type.name;
    const put = (path: string, value: number) => {
      const loc = fieldLocation(set, DRIVER_ABI, struct, path);
      if (!loc || loc.offset + loc.size > bytes.length) return;
      const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      if (loc.size === 8) view.setBigUint64(loc.offset, BigInt(value), true);
      else view.setUint32(loc.offset, value >>> 0, true);
    };
    for (const [role, b] of buffers) if (role !== 'arg') put(role, b.at);
    if (set.protocol?.setMemorySlot?.includes(schema.name)) {
      const ua = Number(readField(set, DRIVER_ABI, struct, 'userspace_addr', bytes) ?? 0n);
      const size = Number(readField(set, DRIVER_ABI, struct, 'memory_size', bytes) ?? 0n);
      const slot = Number(readField(set, DRIVER_ABI, struct, 'slot', bytes) ?? 0n);
      const at = this.placeGuestMemory(ua, size);
      if (at === undefined) return;
      put('userspace_addr', at);
      if (size > 0) this.slots.set(slot, { gpa: readField(set, DRIVER_ABI, struct, 'guest_phys_addr', bytes) ?? 0n, size: BigInt(size), replay: at });
      else this.slots.delete(slot);
    }
    // Families that take guest RAM in blocks: a block is placed at registration, mappings point into it.
    const facts = DRIVER_MEMORY[set.family];
    const field = (name: string) => Number(readField(set, DRIVER_ABI, struct, name, bytes) ?? 0n);
    const block = facts?.ramBlocks[schema.name];
    if (block) {
      const at = this.placeGuestMemory(field(block.addr), field(block.size));
      if (at !== undefined) put(block.addr, at);
    }
    const mapping = facts?.ramMappings[schema.name];
    const mapped = mapping && field(mapping.addr) !== 0 ? this.addresses.translate(field(mapping.addr)) : undefined;
    if (mapping && mapped !== undefined) put(mapping.addr, mapped);
  }

  /** What the driver left in a buffer, in the recording's layout. */
  private readBack(set: SchemaSet, schema: IoctlSchema, b: Buffer): Uint8Array {
    const bytes = this.driver.memory.read(b.at, b.driverLength ?? b.length);
    return b.planned.role === 'arg' ? fromDriverAbi(set, schema, bytes, this.abi, b.recorded?.before ?? new Uint8Array(b.length)) : bytes;
  }

  /** A run page and data page the driver mapped itself: the recorded addresses and the replay's are the same memory. */
  private mapDriverPages(set: SchemaSet, schema: IoctlSchema, argBuf: Buffer | undefined): void {
    const facts = DRIVER_MEMORY[set.family]!;
    const recorded = argBuf?.recorded?.after;
    if (!argBuf || !recorded || schema.arg.kind !== 'pointer' || schema.arg.type.kind !== 'struct') return;
    const replayed = this.readBack(set, schema, argBuf);
    for (const field of [facts.runPage.field, facts.runPage.dataField]) {
      const from = readField(set, this.abi, schema.arg.type.name, field, recorded);
      const to = readField(set, this.abi, schema.arg.type.name, field, replayed);
      if (from !== undefined && to !== undefined) this.addresses.add(Number(from), PAGE_SIZE, Number(to));
    }
  }

  /** What the monitor left in kvm_run before the run: I/O-in data, MMIO read data, immediate_exit. */
  private feedRunPage(event: IoctlEvent): void {
    for (const r of event.regions) {
      if (!r.role.startsWith('run') || !r.before) continue;
      const at = this.addresses.translate(r.addr, r.before.length);
      if (at === undefined) { this.skip('run pages the replay never mapped'); continue; }
      this.driver.memory.write(at, r.before);
    }
  }

  private compareResult(event: IoctlEvent, object: TraceObject, schema: IoctlSchema, result: { ret: number; errno: number }): void {
    const recordedFd = schema.returns.kind === 'fd' && !schema.returns.field;
    const diffs: FieldDiff[] = [];
    const show = (ret: number, errno: number) => (ret < 0 ? `${ret} (${errnoName(errno)})` : String(ret));
    if (recordedFd ? (event.ret < 0) !== (result.ret < 0) : event.ret !== result.ret) diffs.push({ field: 'ret', recorded: show(event.ret, event.errno), replayed: show(result.ret, result.errno) });
    else if (event.errno !== result.errno) diffs.push({ field: 'errno', recorded: errnoName(event.errno), replayed: errnoName(result.errno) });
    this.report(event, object, schema, diffs);
  }

  private bindCreated(event: IoctlEvent, schema: IoctlSchema, ret: number, argBuf: Buffer | undefined): void {
    const returns = schema.returns;
    if (returns.kind !== 'fd') return;
    if (!returns.field) {
      if (event.ret >= 0 && ret >= 0) this.fds.set(key(event.pid, event.ret), ret);
      return;
    }
    const set = this.graph.objectFor(event.pid, event.fd)?.set;
    const after = argBuf?.recorded?.after;
    if (!set || !argBuf || !after || schema.arg.kind !== 'pointer' || schema.arg.type.kind !== 'struct') return;
    const recorded = readField(set, this.abi, schema.arg.type.name, returns.field, after);
    const replayed = readField(set, this.abi, schema.arg.type.name, returns.field, this.readBack(set, schema, argBuf));
    if (recorded !== undefined && replayed !== undefined) this.fds.set(key(event.pid, Number(recorded)), Number(replayed));
  }

  /** Output bytes of one region: the bytes declared out, less pointers and returned fds. */
  private compareRegion(event: IoctlEvent, object: TraceObject, set: SchemaSet, schema: IoctlSchema, b: Buffer): void {
    const after = b.recorded?.after;
    if (!after) return;
    const replayed = this.readBack(set, schema, b);
    const dirs = b.planned.role === 'arg' ? argByteDirections(set, this.abi, schema, b.length) : undefined;
    const skip = new Set<number>();
    const arg = schema.arg;
    if (b.planned.role === 'arg' && arg.kind === 'pointer' && arg.type.kind === 'struct') {
      const struct = arg.type.name;
      const runPage = DRIVER_MEMORY[set.family]?.runPage;
      // Addresses the driver chose for pages it mapped are not outputs to compare either.
      const driverPages = runPage && schema.name === runPage.request ? [runPage.field, runPage.dataField] : [];
      const paths = [...(arg.pointers ?? []).map((p) => p.field), ...(schema.returns.kind === 'fd' && schema.returns.field ? [schema.returns.field] : []), ...driverPages];
      for (const path of paths) {
        const loc = fieldLocation(set, this.abi, struct, path);
        if (loc) for (let i = loc.offset; i < loc.offset + loc.size; i++) skip.add(i);
      }
    }
    const compare = (i: number) => !skip.has(i) && (dirs ? i < dirs.length && declaresOut(dirs[i]) : declaresOut(b.planned.dir));
    const prefix = b.planned.role === 'arg' ? 'out.' : `${b.planned.role} -> `;
    this.report(event, object, schema, diffBytes(set, this.abi, b.planned.type, after, replayed, compare, prefix));
  }

  /** The exit: kvm_run's header fields and the union member the exit reason selects; OUT data. */
  private compareRunPage(event: IoctlEvent, object: TraceObject, set: SchemaSet, schema: IoctlSchema): void {
    const page = set.runPage;
    const run = event.regions.find((r) => r.role === 'run');
    if (!page || !run?.after) return;
    const at = this.addresses.translate(run.addr, run.after.length);
    if (at === undefined) return;
    const replayed = this.peek(at, run.after.length);
    const reason = fieldLocation(set, this.abi, page.type, page.reasonField)!;
    const exit = decodeExit(set, this.abi, run.after);
    const member = exit?.member ? fieldLocation(set, this.abi, page.type, exit.member) : undefined;
    const layout = set.types[this.abi]?.[page.type];
    const unionStart = member?.offset ?? layout?.fields.find((f) => f.offset > reason.offset && f.size > 64)?.offset ?? 32;
    // The header from the exit reason on (request_interrupt_window and immediate_exit are inputs),
    // then the active member, named as such: the union's other members are stale from earlier exits.
    const header = (i: number) => i >= reason.offset && i < unionStart;
    // Equal pages differ in no field: one comparison of every byte settles the header and the member.
    const same = Buffer.compare(run.after, replayed) === 0;
    const diffs = same ? [] : diffBytes(set, this.abi, { kind: 'struct', name: page.type }, run.after, replayed, header, 'run.');
    if (!same && member && exit?.member) {
      const slice = (b: Uint8Array) => b.subarray(member.offset, member.offset + member.size);
      diffs.push(...diffBytes(set, this.abi, member.type, slice(run.after), slice(replayed), () => true, `run.${exit.member}.`));
    }
    const io = event.regions.find((r) => r.role === 'run.io');
    // The exit data the driver wrote (OUT data; a driver's own data page: what it describes), not the monitor's answers.
    const facts = DRIVER_MEMORY[set.family];
    const driverWrote = exit && (facts ? facts.exitData(set, this.abi, exit)?.dir !== 'out' : exit.reason === 'KVM_EXIT_IO' && (exit.data as { direction?: number }).direction === 1);
    if (io?.after && driverWrote) {
      const ioAt = this.addresses.translate(io.addr, io.after.length);
      if (ioAt !== undefined) diffs.push(...diffBytes(set, this.abi, undefined, io.after, this.peek(ioAt, io.after.length), () => true, 'run.io.data '));
    }
    this.report(event, object, schema, diffs, true);
  }

  /**
   * The driver's bytes at a replay address, to compare now: a view where they lie in one mapping
   * (the run page after every run: no copy), else a copy.
   */
  private peek(at: number, length: number): Uint8Array {
    return this.driver.memory.view(at, length) ?? this.driver.memory.read(at, length);
  }

  /** The HOST_STATE rule a differing output falls under, if any. */
  private hostState(event: IoctlEvent, object: TraceObject, schema: IoctlSchema, diff: FieldDiff): string | undefined {
    for (const h of HOST_STATE) {
      if (h.request !== schema.name && h.request !== `${schema.name}@${object.kind}`) continue;
      if (!h.field.test(diff.field)) continue;
      if (h.msr !== undefined) {
        const i = /\[(\d+)\]/.exec(diff.field)?.[1];
        const after = event.regions.find((r) => r.role === 'arg')?.after;
        const arg = schema.arg;
        if (i === undefined || !after || !object.set || arg.kind !== 'pointer' || arg.type.kind !== 'struct') continue;
        if (Number(readField(object.set, this.abi, arg.type.name, `entries[${i}].index`, after) ?? -1n) !== h.msr) continue;
      }
      return h.source;
    }
    return undefined;
  }

  private report(event: IoctlEvent, object: TraceObject, schema: IoctlSchema, diffs: FieldDiff[], run = false): void {
    if (diffs.length === 0) return;
    const host = diffs.map((d) => this.hostState(event, object, schema, d));
    const firstHost = host.findIndex((h) => h !== undefined);
    if (firstHost >= 0) {
      const d = diffs[firstHost];
      this.hostDifferences.push({ seq: event.seq, name: schema.name, object: object.path, what: d.field, recorded: d.recorded, replayed: d.replayed, source: host[firstHost] });
      diffs = diffs.filter((_, i) => host[i] === undefined);
      if (diffs.length === 0) return;
    }
    const first = diffs[0];
    const d: Divergence = { seq: event.seq, name: schema.name, object: object.path, what: first.field, recorded: first.recorded, replayed: first.replayed };
    const queries = object.set?.protocol?.hostQueries ?? [];
    if (queries.includes(schema.name) || queries.includes(`${schema.name}@${object.kind}`)) {
      // The monitor's later inputs carry the recorded answer (a CPUID table, say): replay goes on.
      this.hostDifferences.push({ ...d, source: 'a question about the host, which the replay driver answers for itself' });
      return;
    }
    const source = run ? this.nondeterminism(object, this.fds.get(key(event.pid, event.fd))) : undefined;
    this.diverge(source ? { ...d, source } : d);
  }

  /** What the trace cannot pin that a run's outcome may depend on. */
  private nondeterminism(vcpu: TraceObject, rfd: number | undefined): string | undefined {
    const explained = this.hostTimers && rfd !== undefined && hostClocked(this.driver) ? this.driver.explainRun(rfd) : undefined;
    if (explained) return explained;
    if (this.hostTimers) return 'the in-kernel irqchip and PIT (KVM_CREATE_IRQCHIP / KVM_CREATE_PIT2) deliver interrupts on the host\'s clock, which the trace does not pin';
    if (!this.cpuidSet.has(vcpu)) return 'host CPUID: the monitor never gave this vCPU a CPUID table (KVM_SET_CPUID2), so CPUID answered what the host has';
    return undefined;
  }

  /** Guest memory of the replay at a guest-physical address. */
  readPhys(gpa: bigint, n: number): Uint8Array | undefined {
    for (const s of this.slots.values()) {
      if (gpa >= s.gpa && gpa + BigInt(n) <= s.gpa + s.size) return this.driver.memory.read(s.replay + Number(gpa - s.gpa), n);
    }
    return undefined;
  }

  /** Fills in the guest context of a divergence on a vCPU (or the first vCPU). */
  addGuestContext(d: Divergence, object: TraceObject | undefined): void {
    const vcpu = object?.kind === 'vcpu' && this.vcpuFds.has(object) ? object : [...this.vcpuFds.keys()][0];
    if (!vcpu) return;
    d.guest = guestContext(this.driver, DRIVER_ABI, this.vcpuFds.get(vcpu)!, vcpu.path, (gpa, n) => this.readPhys(gpa, n));
    if (d.source === undefined && d.guest.instruction && /^rdtscp?\b|^rdrand\b|^rdseed\b/.test(d.guest.instruction)) {
      d.source = `the guest's ${d.guest.instruction.split(' ')[0]} reads something the trace cannot pin (time or randomness)`;
    }
  }

  /** The state of a vCPU, for --until. */
  vcpuState(): Record<string, string> {
    const [vcpu] = this.vcpuFds.keys();
    if (!vcpu) return {};
    const g = guestContext(this.driver, DRIVER_ABI, this.vcpuFds.get(vcpu)!, vcpu.path, (gpa, n) => this.readPhys(gpa, n));
    return { vcpu: g.vcpu, mode: g.mode, rip: g.rip, instruction: g.instruction ?? '?' };
  }

  objectOf(event: TraceEvent): TraceObject | undefined {
    return event.type === 'ioctl' ? this.graph.objectFor(event.pid, event.fd) : undefined;
  }
}

export function replayTrace(path: string, registry: SchemaRegistry, driver: Driver, against: string, options: ReplayOptions = {}): ReplaySummary {
  const reader = TraceReader.open(path);
  // The family of the sets the trace was recorded with (`haxm-linux@...`): its device paths are the ones to open.
  const family = reader.header.schemaSets.map((id) => registry.sets.find((s) => s.id === id.split('@')[0])?.family).find((f) => f !== undefined) ?? 'kvm';
  const replay = new Replay(driver, registry, reader.header.abi, family);
  let events = 0;
  let stoppedAt: ReplaySummary['stoppedAt'];
  for (const event of reader) {
    if (options.until !== undefined && event.seq >= options.until) {
      stoppedAt = { seq: event.seq, state: replay.vcpuState() };
      break;
    }
    events++;
    const found = replay.step(event);
    if (found.length > 0) {
      replay.addGuestContext(found[0], replay.objectOf(event));
      if (!options.keepGoing) break;
    }
  }
  const summary: ReplaySummary = { events, replayed: replay.replayed, divergence: replay.divergences[0] ?? null, skipped: replay.skipped, hostDifferences: replay.hostDifferences.length, against };
  if (replay.hostDifferences.length > 0) summary.firstHostDifference = replay.hostDifferences[0];
  if (options.keepGoing) summary.divergences = replay.divergences;
  if (stoppedAt) summary.stoppedAt = stoppedAt;
  if (reader.truncated) summary.truncated = truncationMessage(path, reader.truncated);
  return summary;
}

