// Readable forms of events: one JSON object per event (the `dump --json` contract) and one
// strace-like line per event. Both take the context the object graph gave the event.

import type { Abi } from '../schemas/model.js';
import { constantName } from '../schemas/describe.js';
import { errnoName } from '../schemas/errno.js';
import { hex } from '../schemas/ioc.js';
import type { IoctlEvent, TraceEvent } from './events.js';
import type { SchemaRegistry } from '../schemas/registry.js';
import { ObjectGraph, type EventContext, type TraceObject } from './objects.js';
import type { TraceReader } from './reader.js';
import { decodeIoctlPayload, summarizeIoctl } from './decode.js';

/** JSON has no bigint and no bytes: bigints become hex strings, bytes a hex string of their contents. */
export function jsonValue(value: unknown): unknown {
  if (typeof value === 'bigint') return hex(value);
  if (value instanceof Uint8Array) return Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('hex');
  if (Array.isArray(value)) return value.map(jsonValue);
  if (value instanceof Map) return jsonValue(Object.fromEntries(value));
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, jsonValue(v)]));
  }
  return value;
}

/** The event as the `dump --json` contract gives it (plain JSON values only). */
export function eventJson(event: TraceEvent, context: EventContext, abi: Abi): Record<string, unknown> {
  switch (event.type) {
    case 'ioctl':
      return ioctlJson(event, context, abi);
    case 'memory': {
      // Guest memory can be large: the dump says how much, the trace holds the bytes.
      const { data, ...rest } = event;
      return { ...rest, length: data.length };
    }
    case 'open':
      return { ...event, object: context.created?.path ?? null };
    case 'close':
    case 'dup':
    case 'mmap':
      return { ...event, object: context.object?.path ?? null };
    default:
      return { ...event };
  }
}

function ioctlJson(event: IoctlEvent, context: EventContext, abi: Abi): Record<string, unknown> {
  const summary = summarizeIoctl(event, context, abi);
  const payload = decodeIoctlPayload(event, context, abi);
  const { regions, ...fields } = event;
  return jsonValue({
    ...fields,
    object: context.object?.path ?? null,
    device: context.object?.deviceType ?? null,
    request: hex(event.request),
    name: summary.name,
    dir: summary.dir,
    size: summary.size,
    in: payload.in,
    out: payload.out,
    ...(context.schema?.run ? { exit: payload.exit ?? null } : {}),
    ...(context.created ? { created: context.created.path } : {}),
    regions: regions.map(({ role, addr, length, dir, problem }) => ({ role, addr, length, dir, ...(problem ? { problem } : {}) })),
  }) as Record<string, unknown>;
}

/** One strace-like line: `12 [pid 100] ioctl(5<vm0/vcpu0>, KVM_RUN) = 0 exit KVM_EXIT_IO {port=0x3f8, ...}`. */
export function eventText(event: TraceEvent, context: EventContext, abi: Abi): string {
  return `${event.seq} [pid ${event.pid}] ${eventBody(event, context, abi)}`;
}

function eventBody(event: TraceEvent, context: EventContext, abi: Abi): string {
  const fd = (n: number) => `${n}${context.object ? `<${context.object.path}>` : ''}`;
  switch (event.type) {
    case 'open':
      return `open(${JSON.stringify(event.path)}, ${hex(event.flags)})${result(event.fd, event.errno, context.created)}`;
    case 'close':
      return `close(${fd(event.fd)})${result(event.ret, event.errno)}`;
    case 'dup':
      return `dup(${fd(event.oldfd)}) = ${event.newfd}`;
    case 'mmap':
      return `mmap(${hex(event.addr)}, ${event.length}, prot=${hex(event.prot)}, flags=${hex(event.flags)}, ${fd(event.fd)}, ${hex(event.offset)})`;
    case 'munmap':
      return `munmap(${hex(event.addr)}, ${event.length})`;
    case 'ioctl':
      return ioctlText(event, context, abi, fd(event.fd));
    case 'memory':
      return `memory ${event.why} ${hex(event.addr)} ${event.data.length} bytes`;
    case 'fork':
      return `fork() = ${event.child}`;
    case 'exec':
      return `execve(${JSON.stringify(event.argv)})`;
    case 'exit':
      return event.signal === undefined ? `exit(${event.status})` : `killed by signal ${event.signal}`;
    case 'note':
      return `# ${event.message}`;
  }
}

/** A value argument, by its constant's name where the schema says which constants name it. */
function valueText(event: IoctlEvent, context: EventContext): string {
  const arg = context.schema?.arg;
  const set = context.object?.set;
  const named = arg?.kind === 'value' && arg.names && set && typeof event.arg === 'number' ? constantName(set, arg.names, event.arg) : undefined;
  return named ?? textScalar(event.arg);
}

function ioctlText(event: IoctlEvent, context: EventContext, abi: Abi, fd: string): string {
  const { name } = summarizeIoctl(event, context, abi);
  const payload = decodeIoctlPayload(event, context, abi);
  const args = [fd, name ?? hex(event.request)];
  if (payload.in) args.push(text(payload.in));
  else if (context.schema?.arg.kind !== 'none') args.push(valueText(event, context));
  let line = `ioctl(${args.join(', ')})${result(event.ret, event.errno, context.created)}`;
  if (payload.out && event.errno === 0) line += ` => ${text(payload.out)}`;
  if (payload.exit) line += ` exit ${payload.exit.reason ?? payload.exit.reasonValue} ${text(payload.exit.data)}`;
  return line;
}

function result(ret: number, errno: number, created?: TraceObject): string {
  if (errno !== 0) return ` = -1 ${errnoName(errno)}`;
  return ` = ${ret}${created ? ` <${created.path}>` : ''}`;
}

/** A decoded value in brief: `{slot=0, memory_size=0x1000}`; long byte arrays by their length. */
function text(value: unknown): string {
  if (value instanceof Uint8Array) return value.length <= 32 ? `"${jsonValue(value)}"` : `<${value.length} bytes>`;
  if (Array.isArray(value)) return `[${value.slice(0, 16).map(text).join(', ')}${value.length > 16 ? ', ...' : ''}]`;
  if (typeof value === 'object' && value !== null) {
    return `{${Object.entries(value).map(([k, v]) => `${k}=${text(v)}`).join(', ')}}`;
  }
  return textScalar(value);
}

/** Small and negative integers in decimal, larger ones in hex (ports, addresses, sizes read best so). */
function textScalar(value: unknown): string {
  if ((typeof value === 'number' && Number.isInteger(value)) || typeof value === 'bigint') {
    return value < 10 ? String(value) : hex(value);
  }
  return typeof value === 'string' ? JSON.stringify(value) : String(value);
}

/** Hex with the sign in front (`-0x10`): schemas' hex would print `0x-10` for s64 fields. */
/** Every event of `reader`, one line each (JSON Lines with `json`), with the object graph built as it goes. */
export function* dumpLines(reader: TraceReader, registry: SchemaRegistry, json: boolean): Generator<string> {
  const abi = reader.header.abi;
  const graph = new ObjectGraph(registry, abi);
  for (const event of reader) {
    const context = graph.apply(event);
    yield json ? JSON.stringify(eventJson(event, context, abi)) : eventText(event, context, abi);
  }
}
