// Checks of decoded frames. Traces are untrusted input: every field of every frame is checked for
// type and range before anything else sees it, and a frame with a key the model does not know is
// rejected. The tables are typed against events.ts, so a field added there fails to compile here
// until it is checked.

import { ABIS } from '../schemas/model.js';
import type { EventType, IoctlEvent, Region, TraceEvent, TraceHeader } from './events.js';

/** Why a frame is not a valid header or event; the reader adds the file and the offset. */
export class InvalidFrame extends Error {}

/** Returns a complaint about `value`, or undefined when it is acceptable. */
type Check = (value: unknown) => string | undefined;

interface FieldRule {
  check: Check;
  optional?: boolean;
}

const INT32_MAX = 0x7fff_ffff;
/** errno values are small positive numbers; the kernel reserves up to 4095. */
const ERRNO_MAX = 4095;
/** A sanity bound on a single region: the largest ioctl payload the kernel accepts is far smaller. */
const MAX_REGION_BYTES = 256 * 1024 * 1024;

function integer(min: number, max: number): Check {
  return (v) =>
    typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max
      ? undefined
      : `must be an integer in [${min}, ${max}], got ${describe(v)}`;
}

const safeUint = integer(0, Number.MAX_SAFE_INTEGER);
const int32 = integer(-INT32_MAX - 1, INT32_MAX);
const uint32 = integer(0, 0xffff_ffff);
const pid = integer(0, INT32_MAX);
const fd = integer(-1, INT32_MAX);
const errno = integer(0, ERRNO_MAX);

/** An ioctl's argument: a number, or a bigint for values beyond 2^53, within 64 bits either way. */
const arg: Check = (v) => {
  if (typeof v === 'number') return Number.isSafeInteger(v) ? undefined : `must be an integer, got ${describe(v)}`;
  if (typeof v === 'bigint') {
    return v >= -(1n << 63n) && v < 1n << 64n ? undefined : `must fit in 64 bits, got ${describe(v)}`;
  }
  return `must be a number or bigint, got ${describe(v)}`;
};

function string(maxLength: number): Check {
  return (v) =>
    typeof v === 'string' && v.length <= maxLength
      ? undefined
      : `must be a string of at most ${maxLength} characters, got ${describe(v)}`;
}

function oneOf(...values: readonly string[]): Check {
  return (v) =>
    typeof v === 'string' && values.includes(v) ? undefined : `must be one of ${values.join(', ')}, got ${describe(v)}`;
}

const boolean: Check = (v) => (typeof v === 'boolean' ? undefined : `must be a boolean, got ${describe(v)}`);

const bytes: Check = (v) => (v instanceof Uint8Array ? undefined : `must be a byte array, got ${describe(v)}`);

function arrayOf(element: Check, maxLength: number): Check {
  return (v) => {
    if (!Array.isArray(v) || v.length > maxLength) return `must be an array of at most ${maxLength} items`;
    for (let i = 0; i < v.length; i++) {
      const complaint = element(v[i]);
      if (complaint) return `[${i}] ${complaint}`;
    }
    return undefined;
  };
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (v instanceof Uint8Array) return `${v.length} bytes`;
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}...` : v);
  if (typeof v === 'bigint') return `${v}n`;
  if (typeof v === 'object') return 'an object';
  return String(v);
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && Object.getPrototypeOf(v) === Object.prototype;
}

/**
 * A rule table flattened for the walk every frame takes; `known` keeps the table for key lookups and
 * `where` names the map in complaints (made once, not per frame).
 */
interface Fields {
  names: string[];
  rules: FieldRule[];
  known: Record<string, FieldRule>;
  where: string;
}

function fields(where: string, known: Record<string, FieldRule>): Fields {
  return { names: Object.keys(known), rules: Object.values(known), known, where };
}

/**
 * Checks `value` against `fields`: each required key present, no unknown key, each value valid.
 * An unknown key is reported before anything else, but is looked for only when the key count or a
 * field says something is wrong, so a good frame costs one pass over its rules and one over its keys.
 */
function checkFields(value: unknown, { names, rules, known, where }: Fields): string | undefined {
  if (!isPlainObject(value)) return `${where} is not a map, got ${describe(value)}`;
  let present = 0;
  let complaint: string | undefined;
  for (let i = 0; i < names.length; i++) {
    const v = value[names[i]];
    if (v === undefined) {
      if (rules[i].optional) continue;
      complaint = `${where} is missing field '${names[i]}'`;
      break;
    }
    const wrong = rules[i].check(v);
    if (wrong) {
      complaint = `${where} field '${names[i]}' ${wrong}`;
      break;
    }
    present++;
  }
  if (complaint === undefined && keyCount(value) === present) return undefined;
  // A key holding undefined also upsets the count; it is absent, as before, unless the model lacks it.
  for (const key of Object.keys(value)) {
    if (!Object.hasOwn(known, key)) return `${where} has unknown field '${key}'`;
  }
  return complaint;
}

function keyCount(value: object): number {
  let count = 0;
  // for-in also walks the prototype, which isPlainObject pinned to Object.prototype (nothing enumerable).
  for (const _ in value) count++;
  return count;
}

const required = (check: Check): FieldRule => ({ check });
const optional = (check: Check): FieldRule => ({ check, optional: true });

type Rules<T> = { [K in Exclude<keyof T, 'type'>]-?: FieldRule };

const REGION_FIELDS = fields('region', {
  role: required(string(256)),
  addr: required(safeUint),
  length: required(integer(0, MAX_REGION_BYTES)),
  dir: required(oneOf('in', 'out', 'inout', 'none')),
  before: optional(bytes),
  after: optional(bytes),
  undef: optional(bytes),
  allocSite: optional(string(4096)),
  read: optional(bytes),
  written: optional(bytes),
  problem: optional(string(4096)),
} satisfies Rules<Region>);

/** Region byte arrays must match the region's length (shorter only when a problem is noted). */
const region: Check = (v) => {
  const complaint = checkFields(v, REGION_FIELDS);
  if (complaint) return complaint;
  const r = v as Region;
  return dataLength(r, 'before') ?? dataLength(r, 'after') ?? bitmapLength(r, 'undef') ?? bitmapLength(r, 'read') ?? bitmapLength(r, 'written');
};

function dataLength(r: Region, key: 'before' | 'after'): string | undefined {
  const data = r[key];
  if (data && (r.problem === undefined ? data.length !== r.length : data.length > r.length)) {
    return `'${r.role}' has ${data.length} ${key} bytes for a length of ${r.length}`;
  }
  return undefined;
}

function bitmapLength(r: Region, key: 'undef' | 'read' | 'written'): string | undefined {
  const bitmap = r[key];
  if (bitmap && bitmap.length !== Math.ceil(r.length / 8)) {
    return `'${r.role}' has a ${bitmap.length}-byte ${key} bitmap for a length of ${r.length}`;
  }
  return undefined;
}

const BASE = { seq: required(safeUint), pid: required(pid), tid: required(pid), t: optional(safeUint) };

const EVENT_RULES: { [K in EventType]: Rules<Extract<TraceEvent, { type: K }>> } = {
  open: { ...BASE, path: required(string(4096)), flags: required(uint32), fd: required(fd), errno: required(errno) },
  close: { ...BASE, fd: required(fd), ret: required(int32), errno: required(errno) },
  dup: { ...BASE, oldfd: required(fd), newfd: required(fd) },
  mmap: {
    ...BASE,
    fd: required(fd),
    addr: required(safeUint),
    length: required(safeUint),
    prot: required(uint32),
    flags: required(uint32),
    offset: required(safeUint),
  },
  munmap: { ...BASE, addr: required(safeUint), length: required(safeUint) },
  ioctl: {
    ...BASE,
    fd: required(fd),
    request: required(uint32),
    arg: required(arg),
    ret: required(int32),
    errno: required(errno),
    dt: optional(safeUint),
    buffers: optional((v) => checkFields(v, BUFFER_FIELDS)),
    regions: required(arrayOf(region, 65536)),
  },
  memory: { ...BASE, why: required(oneOf('register', 'write')), addr: required(safeUint), data: required(bytes) },
  fork: { ...BASE, child: required(pid) },
  exec: { ...BASE, argv: required(arrayOf(string(1 << 20), 65536)) },
  exit: { ...BASE, status: required(int32), signal: optional(integer(1, 128)) },
  note: { ...BASE, message: required(string(1 << 20)) },
};

const BUFFER_FIELDS = fields('buffers', {
  in: required(uint32),
  out: required(uint32),
} satisfies Rules<NonNullable<IoctlEvent['buffers']>>);

const HOST_FIELDS = fields('host', {
  hostname: required(string(256)),
  kernel: required(string(256)),
  arch: required(string(256)),
} satisfies Rules<TraceHeader['host']>);

const HEADER_FIELDS = fields('header', {
  format: required(oneOf('ioctlgrind-trace')),
  formatVersion: required(integer(1, 1)),
  tool: required(string(256)),
  schemaSets: required(arrayOf(string(256), 1024)),
  host: required((v) => checkFields(v, HOST_FIELDS)),
  command: required(arrayOf(string(1 << 20), 65536)),
  abi: required(oneOf(...ABIS)),
  recorder: required(oneOf('native', 'emulator', 'kvm-inprocess')),
  exact: required(boolean),
  memcheck: required(boolean),
  startedAt: required(string(64)),
} satisfies Rules<TraceHeader>);

/** The event rules with the `type` key itself, which the table keys already checked. */
const EVENT_FIELDS = new Map<string, Fields>(
  Object.entries(EVENT_RULES).map(([type, rules]) => [type, fields(`${type} event`, { ...rules, type: required(() => undefined) })]),
);

function accept<T>(value: unknown, rules: Fields): T {
  const complaint = checkFields(value, rules);
  if (complaint) throw new InvalidFrame(complaint);
  return value as T;
}

export function validateHeader(value: unknown): TraceHeader {
  return accept<TraceHeader>(value, HEADER_FIELDS);
}

export function validateEvent(value: unknown): TraceEvent {
  const type = isPlainObject(value) ? value.type : undefined;
  const rules = typeof type === 'string' ? EVENT_FIELDS.get(type) : undefined;
  if (!rules) {
    if (!isPlainObject(value)) throw new InvalidFrame(`event is not a map, got ${describe(value)}`);
    throw new InvalidFrame(type === undefined ? "event is missing field 'type'" : `unknown event type ${describe(type)}`);
  }
  return accept<TraceEvent>(value, rules);
}
