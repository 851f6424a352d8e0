// Which memory an ioctl touches, by its schema: the argument (with its tail), and the buffers behind
// embedded pointers, each sized by its rule. The one place size rules and sub-table keys are read,
// for the checker, the replayer and the decoders alike.

import type { Abi, ArgSpec, Direction, IoctlSchema, SchemaSet, SizeRule, Subtable, SubtableEntry, TypeRef } from './model.js';
import { decodeType, fieldLocation, readField, typeSize, type Decoded } from './codec.js';
import { subtableEntry } from './registry.js';

/** What a multiplexing key may come from besides the argument: the object the call is on. */
export interface ObjectFacts {
  /** The object kind (`system`, `vm`, `vcpu`, `device`). */
  kind?: string;
  /** The device type name of a device object (`vfio`). */
  deviceType?: string;
  /** A VM's memory slots by number, for dirty bitmaps. */
  slotSize?: (slot: number) => number | undefined;
}

export interface PlannedRegion {
  /** `arg`, or the pointer's field path (`addr`, `dirty_bitmap`, `ranges[2].bitmap`). */
  role: string;
  /** Address in the caller; for `arg` the ioctl's argument. */
  addr: number;
  length: number;
  dir: Direction;
  type?: TypeRef;
  /** Why the length is unknown or clamped (an unsized payload, an fd of unknown type). */
  problem?: string;
  /** The sub-table entry that sized it. */
  entry?: SubtableEntry;
}

/** Caps what an untrusted count can make us read. */
export const MAX_REGION_BYTES = 16 << 20;

export type Fields = Record<string, Decoded>;

/** A sub-table key value: `device` from the object, `field:shift:width` a bit slice of a field. */
export function subtableKey(table: Subtable, fields: Fields | undefined, object: ObjectFacts): Record<string, number | string> {
  const key: Record<string, number | string> = {};
  for (const keyField of table.keyFields) {
    if (keyField === 'device') {
      const device = object.deviceType ?? object.kind;
      if (device) key.device = device;
      continue;
    }
    const [name, shift, width] = keyField.split(':');
    const value = fields?.[name];
    if (typeof value !== 'number' && typeof value !== 'bigint') continue;
    const v = BigInt(value);
    key[keyField] = Number(shift === undefined ? v : (v >> BigInt(shift)) & ((1n << BigInt(width)) - 1n));
  }
  return key;
}

export function resolveSubtable(table: Subtable, fields: Fields | undefined, object: ObjectFacts): SubtableEntry | undefined {
  return subtableEntry(table, subtableKey(table, fields, object));
}

function asNumber(v: Decoded | bigint | undefined): number | undefined {
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint') return v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : undefined;
  return undefined;
}

/**
 * The sub-table entry that gives the argument itself another struct (MSHV_CREATE_PARTITION's v2,
 * chosen by a pt_flags bit), when the request's sub-table sizes no pointer.
 */
export function argVariant(set: SchemaSet, abi: Abi, ioctl: IoctlSchema, argBytes: Uint8Array | undefined): SubtableEntry | undefined {
  const arg = ioctl.arg;
  if (!ioctl.multiplex || !argBytes || arg.kind !== 'pointer') return undefined;
  if (arg.pointers?.some((p) => p.size.kind === 'subtable' && p.size.table === ioctl.multiplex)) return undefined;
  const table = set.subtables[ioctl.multiplex];
  return table && resolveSubtable(table, decodeType(set, abi, arg.type, argBytes) as Fields, {});
}

/** The length of the argument region: the encoded size or the type's, its variant, its tail, or a length field. */
export function argLength(set: SchemaSet, abi: Abi, ioctl: IoctlSchema, argBytes: Uint8Array | undefined): number {
  const arg = ioctl.arg;
  if (arg.kind !== 'pointer') return 0;
  const variant = argVariant(set, abi, ioctl, argBytes);
  const base = Math.max(typeSize(set, abi, arg.type) || ioctl.sizes[abi] || 0, variant?.size ?? 0);
  if (!argBytes || arg.type.kind !== 'struct') return base;
  if (arg.lengthField) {
    const n = asNumber(readField(set, abi, arg.type.name, arg.lengthField, argBytes));
    if (n !== undefined && n >= base) return Math.min(n, MAX_REGION_BYTES);
  }
  if (arg.tail) {
    const count = asNumber(readField(set, abi, arg.type.name, arg.tail.countField, argBytes)) ?? 0;
    const bounded = Math.min(count, arg.tail.max ?? count);
    const elem = typeSize(set, abi, arg.tail.element);
    const tailAt = fieldLocation(set, abi, arg.type.name, arg.tail.field)?.offset ?? base;
    return Math.min(Math.max(base, tailAt + bounded * elem), MAX_REGION_BYTES);
  }
  return base;
}

function sizeOf(rule: SizeRule, set: SchemaSet, abi: Abi, struct: string, argBytes: Uint8Array, fields: Fields | undefined, object: ObjectFacts, element: number | undefined):
  { length: number; type?: TypeRef; entry?: SubtableEntry; problem?: string } {
  switch (rule.kind) {
    case 'const': return { length: rule.size };
    case 'cstring': return { length: 0, problem: 'a string: its length is found by reading it' };
    case 'field': {
      // A count kept in the buffer itself is read when the buffer is, not when the call is planned.
      if (rule.of === 'pointee') return { length: 0, problem: `sized by ${rule.field} in the buffer it points to` };
      const path = element === undefined ? rule.field : rule.field.replace('[]', `[${element}]`);
      const v = asNumber(readField(set, abi, struct, path, argBytes));
      if (v === undefined) return { length: 0, problem: `${path} is unreadable` };
      const scale = rule.scaleByAbi?.[abi] ?? rule.scale ?? 1;
      const add = rule.addByAbi?.[abi] ?? rule.add ?? 0;
      const n = rule.bits ? Math.ceil(v / 64) * 8 : Math.ceil(v * scale) + add;
      return { length: n };
    }
    case 'dirty-bitmap': {
      const slot = asNumber(readField(set, abi, struct, rule.slotField, argBytes));
      const size = slot === undefined ? undefined : object.slotSize?.(slot & 0xffff);
      if (size === undefined) return { length: 0, problem: `memory slot ${slot ?? '?'} was never registered in this trace, so its bitmap cannot be sized` };
      return { length: Math.ceil(size / 4096 / 64) * 8 };
    }
    case 'subtable': {
      const table = set.subtables[rule.table];
      if (!table) return { length: 0, problem: `no sub-table ${rule.table}` };
      const entry = resolveSubtable(table, fields, object);
      if (!entry) {
        const key = subtableKey(table, fields, object);
        const missingDevice = table.keyFields.includes('device') && key.device === undefined;
        return { length: 0, problem: missingDevice ? 'the object\'s device type is unknown (its creation is not in the trace), so the payload cannot be sized' : `${rule.table} has no entry for ${Object.entries(key).map(([k, v]) => `${k}=${typeof v === 'number' ? '0x' + v.toString(16) : v}`).join(' ')}` };
      }
      if (entry.sizeFrom) {
        const v = asNumber(fields?.[entry.sizeFrom]);
        return { length: v ?? 0, entry, ...(v === undefined ? { problem: `${entry.sizeFrom} is unreadable` } : {}) };
      }
      return { length: entry.size, entry, ...(entry.type ? { type: entry.type } : {}) };
    }
  }
}

/** Every region an ioctl touches, given the argument's bytes before the call. */
export function planRegions(set: SchemaSet, abi: Abi, ioctl: IoctlSchema, arg: number | bigint, argBytes: Uint8Array | undefined, object: ObjectFacts): PlannedRegion[] {
  const spec: ArgSpec = ioctl.arg;
  if (spec.kind !== 'pointer') return [];
  const addr = typeof arg === 'bigint' ? Number(arg) : arg;
  const out: PlannedRegion[] = [{ role: 'arg', addr, length: argLength(set, abi, ioctl, argBytes), dir: spec.dir, type: spec.type }];
  if (!argBytes || !spec.pointers) return out;
  // `*`: the argument is itself a pointer to the buffer (HAXM's CPUID ioctls on POSIX).
  const self = spec.pointers.find((p) => p.field === '*');
  if (self && spec.type.kind === 'scalar') {
    const view = new DataView(argBytes.buffer, argBytes.byteOffset, argBytes.byteLength);
    const ptr = argBytes.length >= 8 && abi !== 'ilp32' ? Number(view.getBigUint64(0, true)) : argBytes.length >= 4 ? view.getUint32(0, true) : 0;
    const sized = sizeOf(self.size, set, abi, '', argBytes, undefined, object, undefined);
    out.push({ role: '*', addr: ptr, length: sized.length, dir: self.dir, ...(self.type ? { type: self.type } : {}), ...(sized.problem ? { problem: sized.problem } : {}) });
    return out;
  }
  if (spec.type.kind !== 'struct') return out;
  const struct = spec.type.name;
  const fields = decodeType(set, abi, spec.type, argBytes) as Fields | undefined;
  for (const rule of spec.pointers) {
    const elements = rule.field.includes('[]') ? arrayLength(set, abi, struct, rule.field) : undefined;
    for (let i = 0; i < (elements ?? 1); i++) {
      const path = elements === undefined ? rule.field : rule.field.replace('[]', `[${i}]`);
      const ptr = asNumber(readField(set, abi, struct, path, argBytes));
      const sized = sizeOf(rule.size, set, abi, struct, argBytes, fields, object, elements === undefined ? undefined : i);
      // An array of pointers uses only the elements that point somewhere and hold something.
      if (elements !== undefined && (!ptr || sized.length === 0)) continue;
      const length = Math.min(sized.length, MAX_REGION_BYTES);
      const region: PlannedRegion = { role: path, addr: ptr ?? 0, length, dir: sized.entry?.dir ?? rule.dir };
      const type = rule.type ?? sized.type;
      if (type) region.type = type;
      if (sized.entry) region.entry = sized.entry;
      if (sized.problem) region.problem = sized.problem;
      else if (sized.length > MAX_REGION_BYTES) region.problem = `${sized.length} bytes, clamped to ${MAX_REGION_BYTES}`;
      out.push(region);
    }
  }
  return out;
}

function arrayLength(set: SchemaSet, abi: Abi, struct: string, path: string): number {
  const arrayPath = path.slice(0, path.indexOf('[]'));
  const loc = fieldLocation(set, abi, struct, arrayPath);
  return loc?.type.kind === 'array' ? loc.type.count : 0;
}

const DIR_CODE: Record<Direction, number> = { none: 0, in: 1, out: 2, inout: 3 };
const CODE_DIR: Direction[] = ['none', 'in', 'out', 'inout'];

/**
 * The declared direction of each byte of the argument region: field overrides first (paths like
 * `entries[].data` apply to every element), then the tail's, then the argument's.
 */
export function argByteDirections(set: SchemaSet, abi: Abi, ioctl: IoctlSchema, length: number): readonly Direction[] {
  // Asked for every call of a request: the answer depends only on these, so keep it.
  const key = `${abi}:${length}`;
  let byKey = directionCache.get(ioctl);
  if (!byKey) directionCache.set(ioctl, (byKey = new Map()));
  let dirs = byKey.get(key);
  if (!dirs) byKey.set(key, (dirs = Object.freeze(computeArgByteDirections(set, abi, ioctl, length))));
  return dirs;
}

const directionCache = new WeakMap<IoctlSchema, Map<string, readonly Direction[]>>();

function computeArgByteDirections(set: SchemaSet, abi: Abi, ioctl: IoctlSchema, length: number): Direction[] {
  const spec = ioctl.arg;
  const codes = new Uint8Array(length).fill(DIR_CODE[spec.kind === 'pointer' ? spec.dir : 'none']);
  if (spec.kind !== 'pointer' || spec.type.kind !== 'struct') return [...codes].map((c) => CODE_DIR[c]);
  const struct = spec.type.name;
  const paint = (offset: number, size: number, dir: Direction) => codes.fill(DIR_CODE[dir], Math.min(offset, length), Math.min(offset + size, length));
  if (spec.tail) {
    const loc = fieldLocation(set, abi, struct, spec.tail.field);
    if (loc) paint(loc.offset, length - loc.offset, spec.tail.dir);
  }
  for (const [path, dir] of Object.entries(spec.fieldDirs ?? {})) {
    if (!path.includes('[]')) {
      const loc = fieldLocation(set, abi, struct, path);
      if (loc) paint(loc.offset, loc.size, dir);
      continue;
    }
    const [arrayPath, rest] = path.split('[].');
    const arr = fieldLocation(set, abi, struct, `${arrayPath}[]`);
    const inner = arr && arr.type.kind === 'struct' ? fieldLocation(set, abi, arr.type.name, rest) : undefined;
    if (!arr || !inner) continue;
    for (let at = arr.offset; at + arr.size <= length; at += arr.size) paint(at + inner.offset, inner.size, dir);
  }
  return [...codes].map((c) => CODE_DIR[c]);
}

export function declaresIn(d: Direction): boolean {
  return d === 'in' || d === 'inout';
}

export function declaresOut(d: Direction): boolean {
  return d === 'out' || d === 'inout';
}
