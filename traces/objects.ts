// The object graph (fd provenance), built event by event: which object each fd of each process
// reaches, where vCPU run pages are mapped, and the memory slots of each VM. Request numbers mean
// different things on different objects, so every decoder asks this graph first.

import type { Abi, Family, IoctlSchema, SchemaSet } from '../schemas/model.js';
import type { SchemaRegistry } from '../schemas/registry.js';
import { decodeType } from '../schemas/codec.js';
import type { IoctlEvent, Region, TraceEvent } from './events.js';

export interface TraceObject {
  /** Creation order, unique in a graph. */
  id: number;
  /** The schema object kind (`system`, `vm`, `vcpu`, `device`), `file` for other paths, or `unknown`. */
  kind: string;
  /** Readable path: `kvm`, `vm0`, `vm0/vcpu1`, `vm0/device0`, `fd7?`. */
  path: string;
  family: Family | null;
  set: SchemaSet | null;
  parent: TraceObject | null;
  /** The path it was opened with, for objects opened by path. */
  devicePath?: string;
  /** Device type of a device object, by name (`vfio`) and by value. */
  deviceType?: string;
  deviceTypeValue?: number;
  /** The process that opened or created it. */
  pid: number;
  /** Null for objects the trace never saw created. */
  createdSeq: number | null;
  /** When the last fd reaching it was closed. */
  closedSeq: number | null;
  /** Why the object is unknown. */
  reason?: string;
  /** Memory slots of a VM, by slot number. */
  slots: Map<number, MemorySlot>;
}

export interface MemorySlot {
  slot: number;
  flags: number;
  guestPhysAddr: number;
  memorySize: number;
  userspaceAddr: number;
  seq: number;
}

/** A mapping of an object's fd into a process (a vCPU fd at offset 0 maps its kvm_run page). */
export interface Mapping {
  addr: number;
  length: number;
  offset: number;
  object: TraceObject;
  seq: number;
}

/** What the graph knew of an event when it applied it. */
export interface EventContext {
  /** The object behind the event's fd (`oldfd` for dup), as it was before the event. */
  object?: TraceObject;
  /** The schema an ioctl was decoded with. */
  schema?: IoctlSchema;
  /** The object an open or a create ioctl made. */
  created?: TraceObject;
}

interface FdEntry {
  object: TraceObject;
  cloexec: boolean;
}

interface ProcessState {
  fds: Map<number, FdEntry>;
  mappings: Mapping[];
}

/** A device path of a schema object kind; `%d`-style placeholders capture indexes (HAXM VM paths). */
interface PathPattern {
  set: SchemaSet;
  kind: string;
  exact?: string;
  regex?: RegExp;
  captures: number;
}

const O_CLOEXEC = 0o2000000;

export class ObjectGraph {
  private readonly processes = new Map<number, ProcessState>();
  private readonly all: TraceObject[] = [];
  private readonly refs = new Map<TraceObject, number>();
  /** Next index per child-name prefix (`vm`, `vm0/vcpu`), so that names are unique in a trace. */
  private readonly counters = new Map<string, number>();
  private readonly patterns: PathPattern[];

  constructor(
    private readonly registry: SchemaRegistry,
    private readonly abi: Abi,
  ) {
    this.patterns = registry.sets.flatMap((set) =>
      set.objects.flatMap((object) => (object.paths ?? []).map((path) => pathPattern(set, object.name, path))),
    );
  }

  /** Every object seen so far, in creation order. */
  get objects(): readonly TraceObject[] {
    return this.all;
  }

  /** The object `fd` of `pid` reaches now, or undefined when the fd is not open. */
  objectFor(pid: number, fd: number): TraceObject | undefined {
    return this.processes.get(pid)?.fds.get(fd)?.object;
  }

  /** The mapping of `pid` that holds `addr`. */
  mappingAt(pid: number, addr: number): Mapping | undefined {
    return this.processes.get(pid)?.mappings.find((m) => addr >= m.addr && addr < m.addr + m.length);
  }

  /** Where `object` is mapped in `pid` (a vCPU's run page is its mapping at offset 0). */
  mappingsOf(pid: number, object: TraceObject): Mapping[] {
    return this.processes.get(pid)?.mappings.filter((m) => m.object === object) ?? [];
  }

  apply(event: TraceEvent): EventContext {
    const process = this.process(event.pid);
    switch (event.type) {
      case 'open': {
        if (event.errno !== 0 || event.fd < 0) return {};
        const created = this.openPath(event.path, event.pid, event.seq);
        this.bind(process, event.fd, created, (event.flags & O_CLOEXEC) !== 0, event.seq);
        return { created };
      }
      case 'close': {
        const object = process.fds.get(event.fd)?.object;
        this.unbind(process, event.fd, event.seq);
        return { object };
      }
      case 'dup': {
        const object = this.fdObject(process, event.pid, event.oldfd);
        if (event.newfd >= 0) this.bind(process, event.newfd, object, false, event.seq);
        return { object };
      }
      case 'mmap': {
        if (event.fd < 0) return {};
        const object = this.fdObject(process, event.pid, event.fd);
        unmap(process, event.addr, event.length);
        process.mappings.push({ addr: event.addr, length: event.length, offset: event.offset, object, seq: event.seq });
        return { object };
      }
      case 'munmap':
        unmap(process, event.addr, event.length);
        return {};
      case 'ioctl':
        return this.applyIoctl(process, event);
      case 'fork': {
        const child = this.process(event.child);
        for (const [fd, entry] of process.fds) this.bind(child, fd, entry.object, entry.cloexec, event.seq);
        child.mappings = process.mappings.map((m) => ({ ...m }));
        return {};
      }
      case 'exec':
        for (const [fd, entry] of [...process.fds]) if (entry.cloexec) this.unbind(process, fd, event.seq);
        process.mappings = [];
        return {};
      case 'exit':
        for (const fd of [...process.fds.keys()]) this.unbind(process, fd, event.seq);
        this.processes.delete(event.pid);
        return {};
      case 'memory':
      case 'note':
        return {};
    }
  }

  private applyIoctl(process: ProcessState, event: IoctlEvent): EventContext {
    const object = this.fdObject(process, event.pid, event.fd);
    const schema = this.schemaFor(object, event.request);
    if (!schema || !object.set || event.errno !== 0 || event.ret < 0) return { object, schema };
    if (object.set.protocol?.setMemorySlot?.includes(schema.name)) this.setSlot(object, schema, event);
    if (schema.returns.kind !== 'fd') return { object, schema };
    const created = this.createChild(object, schema, event);
    if (created) this.bind(process, created.fd, created.object, true, event.seq);
    return { object, schema, created: created?.object };
  }

  /** The schema of `request` on `object`; on an unknown object, the one schema the number can mean. */
  private schemaFor(object: TraceObject, request: number): IoctlSchema | undefined {
    if (object.set) return this.registry.lookupFor(request, object.kind, this.abi, object.set);
    const meanings = new Set(
      this.registry
        .candidates(request)
        .filter((c) => c.abi === this.abi)
        .map((c) => c.ioctl),
    );
    return meanings.size === 1 ? [...meanings][0] : undefined;
  }

  /** The child a create ioctl returned, and the fd it is reached by. */
  private createChild(
    parent: TraceObject,
    schema: IoctlSchema,
    event: IoctlEvent,
  ): { object: TraceObject; fd: number } | undefined {
    const returns = schema.returns;
    const set = parent.set;
    if (returns.kind !== 'fd' || !set) return undefined;
    const argFields = (bytes: 'before' | 'after') => this.argFields(set, schema, event, bytes);
    const fd = returns.field === undefined ? event.ret : Number(argFields('after')?.[returns.field]);
    if (!Number.isInteger(fd) || fd < 0) return undefined;
    // A child created with an id by value (a vCPU) is named by it; other children by creation order.
    const byId = schema.arg.kind === 'value' && /\bid\b/.test(schema.arg.meaning ?? '');
    const index = byId ? Number(event.arg) : undefined;
    const object = this.newObject({
      kind: returns.object,
      path: this.childPath(parent, returns.object, index),
      set,
      parent,
      pid: event.pid,
      createdSeq: event.seq,
    });
    if (returns.typeField !== undefined) {
      const value = Number(argFields('before')?.[returns.typeField]);
      object.deviceTypeValue = value;
      object.deviceType = deviceTypeName(set, value);
    }
    return { object, fd };
  }

  private setSlot(vm: TraceObject, schema: IoctlSchema, event: IoctlEvent): void {
    const fields = vm.set && this.argFields(vm.set, schema, event, 'before');
    if (!fields) return;
    const slot: MemorySlot = {
      slot: Number(fields.slot),
      flags: Number(fields.flags),
      guestPhysAddr: Number(fields.guest_phys_addr),
      memorySize: Number(fields.memory_size),
      userspaceAddr: Number(fields.userspace_addr),
      seq: event.seq,
    };
    // A zero size deletes the slot.
    if (slot.memorySize === 0) vm.slots.delete(slot.slot);
    else vm.slots.set(slot.slot, slot);
  }

  /** The argument struct of an ioctl, decoded from the `arg` region's bytes before or after the call. */
  private argFields(
    set: SchemaSet,
    schema: IoctlSchema,
    event: IoctlEvent,
    bytes: 'before' | 'after',
  ): Record<string, unknown> | undefined {
    const data = argRegion(event)?.[bytes];
    if (schema.arg.kind !== 'pointer' || !data) return undefined;
    const fields = decodeType(set, this.abi, schema.arg.type, data);
    return typeof fields === 'object' && fields !== null ? (fields as Record<string, unknown>) : undefined;
  }

  private childPath(parent: TraceObject, kind: string, index: number | undefined): string {
    // Children of the system device are top-level: `vm0`, not `kvm/vm0`.
    const prefix = parent.kind === 'system' ? kind : `${parent.path}/${kind}`;
    const next = this.counters.get(prefix) ?? 0;
    const n = index ?? next;
    this.counters.set(prefix, Math.max(next, n + 1));
    return `${prefix}${n}`;
  }

  private openPath(path: string, pid: number, seq: number): TraceObject {
    for (const pattern of this.patterns) {
      const indexes = matchPath(pattern, path);
      if (!indexes) continue;
      // A pattern's placeholders name the ancestors too: `/dev/hax_vm%02d/vcpu%02d` is `vm0/vcpu1`.
      const kinds = indexes.map((_, i) =>
        i === indexes.length - 1 ? pattern.kind : this.patterns.find((p) => p.set === pattern.set && p.captures === i + 1)?.kind,
      );
      const objectPath = indexes.length
        ? indexes.map((n, i) => `${kinds[i] ?? 'object'}${n}`).join('/')
        : path.slice(path.lastIndexOf('/') + 1);
      return this.newObject({ kind: pattern.kind, path: objectPath, set: pattern.set, parent: null, pid, createdSeq: seq, devicePath: path });
    }
    return this.newObject({ kind: 'file', path, set: null, parent: null, pid, createdSeq: seq, devicePath: path });
  }

  /** The object behind `fd`; one the trace never saw created becomes an `unknown` object. */
  private fdObject(process: ProcessState, pid: number, fd: number): TraceObject {
    const known = process.fds.get(fd)?.object;
    if (known) return known;
    const object = this.newObject({ kind: 'unknown', path: `fd${fd}?`, set: null, parent: null, pid, createdSeq: null });
    object.reason = `fd ${fd} of pid ${pid} was used before the trace saw it opened`;
    this.bind(process, fd, object, false, null);
    return object;
  }

  private newObject(
    fields: Pick<TraceObject, 'kind' | 'path' | 'set' | 'parent' | 'pid' | 'createdSeq'> & { devicePath?: string },
  ): TraceObject {
    const object: TraceObject = {
      id: this.all.length,
      family: fields.set?.family ?? null,
      closedSeq: null,
      slots: new Map(),
      ...fields,
    };
    this.all.push(object);
    return object;
  }

  private bind(process: ProcessState, fd: number, object: TraceObject, cloexec: boolean, seq: number | null): void {
    this.unbind(process, fd, seq);
    process.fds.set(fd, { object, cloexec });
    this.refs.set(object, (this.refs.get(object) ?? 0) + 1);
  }

  private unbind(process: ProcessState, fd: number, seq: number | null): void {
    const entry = process.fds.get(fd);
    if (!entry) return;
    process.fds.delete(fd);
    const left = (this.refs.get(entry.object) ?? 1) - 1;
    this.refs.set(entry.object, left);
    if (left === 0) entry.object.closedSeq = seq;
  }

  private process(pid: number): ProcessState {
    let state = this.processes.get(pid);
    if (!state) {
      state = { fds: new Map(), mappings: [] };
      this.processes.set(pid, state);
    }
    return state;
  }
}

export function argRegion(event: IoctlEvent): Region | undefined {
  return event.regions.find((r) => r.role === 'arg');
}

/** The name of a device type value from the set's `*_DEV_TYPE_*` constants (`KVM_DEV_TYPE_VFIO` is `vfio`). */
function deviceTypeName(set: SchemaSet, value: number): string {
  for (const [name, constant] of Object.entries(set.deviceTypes ?? {})) if (constant === value) return name;
  return `type${value}`;
}

function pathPattern(set: SchemaSet, kind: string, path: string): PathPattern {
  const placeholder = /%0?\d*d/g;
  const captures = path.match(placeholder)?.length ?? 0;
  if (captures === 0) return { set, kind, exact: path, captures };
  const source = path
    .split(placeholder)
    .map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
    .join('(\\d+)');
  return { set, kind, regex: new RegExp(`^${source}$`), captures };
}

/** The indexes a path fills a pattern's placeholders with, or undefined when it does not match. */
function matchPath(pattern: PathPattern, path: string): number[] | undefined {
  if (pattern.exact !== undefined) return pattern.exact === path ? [] : undefined;
  return pattern.regex?.exec(path)?.slice(1).map(Number);
}

/** Removes `[addr, addr + length)` from the process's mappings, keeping what is left on either side. */
function unmap(process: ProcessState, addr: number, length: number): void {
  const end = addr + length;
  process.mappings = process.mappings.flatMap((m) => {
    const mEnd = m.addr + m.length;
    if (mEnd <= addr || m.addr >= end) return [m];
    const kept: Mapping[] = [];
    if (m.addr < addr) kept.push({ ...m, length: addr - m.addr });
    if (mEnd > end) kept.push({ ...m, addr: end, length: mEnd - end, offset: m.offset + (end - m.addr) });
    return kept;
  });
}
