// protocol: the order a driver expects: the API version asked first, capabilities checked before
// the requests they gate, registers set before the first run, no requests on closed fds, no
// overlapping memory slots.

import { readField } from '../../schemas/codec.js';
import { hex } from '../../schemas/ioc.js';
import type { TraceEvent } from '../../traces/events.js';
import type { TraceObject } from '../../traces/objects.js';
import { once, type CheckState, type Emit, type Rule } from '../rule.js';
import type { IoctlFacts } from '../facts.js';

interface ProcessFacts {
  versionAsked: boolean;
  /** Capability values a CHECK_EXTENSION answered > 0. */
  capabilities: Set<number>;
  /** Capability flags a capability request reported (HAXM's winfo). */
  flags: bigint;
  /** The API window the driver reported: the oldest version it serves and its own, and where. */
  driverVersion?: { compat: number; current: number; seq: number };
}

/** Made fresh for each check: it remembers what each process and vCPU has done so far. */
export class ProtocolRule implements Rule {
  private readonly processes = new Map<number, ProcessFacts>();
  private readonly registersSet = new Set<number>();
  private readonly closedFds = new Map<string, { path: string; seq: number }>();

  private process(pid: number): ProcessFacts {
    let p = this.processes.get(pid);
    if (!p) this.processes.set(pid, (p = { versionAsked: false, capabilities: new Set(), flags: 0n }));
    return p;
  }

  /** The version window: requests newer than the driver's API, a monitor outside the driver's window. */
  private versions(facts: IoctlFacts, pf: ProcessFacts, emit: Emit): void {
    const { schema, set, event } = facts;
    const proto = set?.protocol;
    if (!schema || !set || !proto) return;
    const field = (name: string, side: 'before' | 'after') => {
      const bytes = facts.region('arg')?.[side];
      const arg = schema.arg;
      if (!bytes || arg.kind !== 'pointer' || arg.type.kind !== 'struct') return undefined;
      const v = readField(set, facts.abi, arg.type.name, name, bytes);
      return v === undefined ? undefined : Number(v);
    };
    if (schema.name === proto.version && proto.versionFields && event.ret >= 0) {
      const compat = field(proto.versionFields.compat, 'after');
      const current = field(proto.versionFields.current, 'after');
      if (compat !== undefined && current !== undefined) pf.driverVersion = { compat, current, seq: event.seq };
    }
    const driver = pf.driverVersion;
    if (!driver) return;
    const said = `${proto.version} said ${driver.compat}..${driver.current} at seq ${driver.seq}`;
    if (schema.sinceVersion !== undefined && schema.sinceVersion > driver.current) {
      emit({ rule: 'protocol', severity: 'error', message: `${schema.name} needs API ${schema.sinceVersion}, but the driver serves at most ${driver.current} (${said})` });
    }
    const mine = proto.monitorVersion;
    if (mine && schema.name === mine.request) {
      const current = field(mine.current, 'before');
      const least = field(mine.least, 'before');
      if (current !== undefined && current < driver.compat) emit({ rule: 'protocol', severity: 'error', field: mine.current, message: `the monitor speaks API ${current}, older than the oldest the driver serves (${said})` });
      if (least !== undefined && least > driver.current) emit({ rule: 'protocol', severity: 'error', field: mine.least, message: `the monitor needs at least API ${least}, newer than the driver's (${said})` });
    }
  }

  /** The flags a capability request wrote into its argument. */
  private reportedFlags(facts: IoctlFacts, field: string): bigint {
    const { schema, set } = facts;
    const after = facts.region('arg')?.after;
    if (!schema || !set || !after || schema.arg.kind !== 'pointer' || schema.arg.type.kind !== 'struct') return 0n;
    return readField(set, facts.abi, schema.arg.type.name, field, after) ?? 0n;
  }

  event(event: TraceEvent, object: TraceObject | undefined): void {
    if (event.type === 'close' && object && object.kind !== 'file' && object.kind !== 'unknown') this.closedFds.set(`${event.pid}:${event.fd}`, { path: object.path, seq: event.seq });
    if (event.type === 'fork') {
      const parent = this.process(event.pid);
      this.processes.set(event.child, { versionAsked: parent.versionAsked, capabilities: new Set(parent.capabilities), flags: parent.flags });
    }
  }

  ioctl(facts: IoctlFacts, state: CheckState, emit: Emit): void {
    const { schema, set, object, event } = facts;
    if (object?.kind === 'unknown') {
      const was = this.closedFds.get(`${event.pid}:${event.fd}`);
      if (was) emit({ rule: 'protocol', severity: 'error', message: `${facts.name} on fd ${event.fd}, which was closed at seq ${was.seq} (it reached ${was.path})` });
      return;
    }
    if (!schema || !set || !object) return;
    const proto = set.protocol ?? {};
    const pf = this.process(event.pid);

    if (schema.name === proto.version) pf.versionAsked = true;
    else if (proto.version && !pf.versionAsked && once(state, `version:${event.pid}`)) {
      emit({ rule: 'protocol', severity: 'warning', message: `${schema.name} before ${proto.version}: the monitor never checked the API version it talks to` });
    }

    this.versions(facts, pf, emit);
    if (schema.name === proto.checkExtension && event.ret > 0) pf.capabilities.add(Number(event.arg));
    const flags = proto.capabilityFlags;
    if (flags && schema.name === flags.request && event.ret >= 0) pf.flags |= this.reportedFlags(facts, flags.field);
    const cap = schema.capability === undefined ? undefined : set.constants[schema.capability];
    const known = cap !== undefined && (flags ? (pf.flags & BigInt(cap)) !== 0n : pf.capabilities.has(cap));
    if (cap !== undefined && !known && once(state, `cap:${event.pid}:${schema.name}`)) {
      const asked = flags ? `${flags.request} reported ${schema.capability}` : `${proto.checkExtension ?? 'capability check'}(${schema.capability}) answered yes`;
      emit({ rule: 'protocol', severity: 'warning', message: `${schema.name} needs ${schema.capability}, but no ${asked} before it` });
    }

    if (proto.setRegisters?.includes(schema.name) && event.ret >= 0) this.registersSet.add(object.id);
    if (schema.run && !this.registersSet.has(object.id) && once(state, `run:${object.id}`)) {
      emit({ rule: 'protocol', severity: 'warning', message: `${schema.name} on ${object.path} before its registers were set (no ${(proto.setRegisters ?? []).slice(0, 2).join(' or ')})` });
    }

    if (proto.setMemorySlot?.includes(schema.name) && object.kind === 'vm') overlappingSlot(facts, emit);
  }
}

function overlappingSlot(facts: IoctlFacts, emit: Emit): void {
  const { schema, set, object } = facts;
  const bytes = facts.region('arg')?.before;
  if (!schema || !set || !object || !bytes || schema.arg.kind !== 'pointer' || schema.arg.type.kind !== 'struct') return;
  const read = (f: string) => readField(set, facts.abi, (schema.arg as { type: { name: string } }).type.name, f, bytes);
  const slot = Number(read('slot') ?? -1n);
  const gpa = read('guest_phys_addr') ?? 0n;
  const size = read('memory_size') ?? 0n;
  if (size === 0n) return; // deleting a slot
  for (const other of object.slots.values()) {
    // Slots in other address spaces (SMM) may overlap.
    if (other.slot === slot || other.slot >> 16 !== slot >> 16) continue;
    const start = BigInt(other.guestPhysAddr);
    const end = start + BigInt(other.memorySize);
    if (gpa < end && start < gpa + size) {
      emit({ rule: 'protocol', severity: 'error', field: 'guest_phys_addr', message: `${schema.name} slot ${slot} [${hex(gpa)}, ${hex(gpa + size)}) on ${object.path} overlaps slot ${other.slot} [${hex(start)}, ${hex(end)}) set at seq ${other.seq}` });
    }
  }
}
