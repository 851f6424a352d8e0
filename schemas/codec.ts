// Decodes and encodes argument bytes through the layouts of a schema set. 64-bit values are bigint;
// byte arrays stay Uint8Array. Bytes missing from a short buffer decode as undefined, never as zero.

import type { Abi, SchemaSet, TypeRef } from './model.js';
import { layoutOf } from './registry.js';
import { readScalar, scalarSize, typeCodec, type Decoded } from './type-codecs.js';

export { iocDecode, bsdDecode, ctlCodeDecode, hex } from './ioc.js';
export { scalarSize, typeCodec, type Decoded, type TypeCodec } from './type-codecs.js';

export function typeSize(set: SchemaSet, abi: Abi, type: TypeRef): number {
  switch (type.kind) {
    case 'scalar': return scalarSize(type.scalar, abi);
    case 'struct': return layoutOf(set, abi, type.name)?.size ?? 0;
    case 'array': return type.count * typeSize(set, abi, type.element);
    case 'flex': case 'bytes': return 0;
  }
}

/** Decodes `bytes[offset..]` as `type`. A flexible array takes its count from the decoded sibling. */
export function decodeType(set: SchemaSet, abi: Abi, type: TypeRef, bytes: Uint8Array, offset = 0): Decoded {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return typeCodec(set, abi, type).decode(bytes, view, offset, undefined);
}

/** Reads one unsigned integer field by name from argument bytes (for size rules and keys). */
export function readField(set: SchemaSet, abi: Abi, structName: string, field: string, bytes: Uint8Array, base = 0): bigint | undefined {
  const loc = fieldLocation(set, abi, structName, field);
  if (!loc || loc.type.kind !== 'scalar' || base + loc.offset + loc.size > bytes.length) return undefined;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const v = readScalar(view, base + loc.offset, loc.type.scalar, abi);
  return typeof v === 'bigint' ? v : BigInt(Number(v));
}

export interface FieldLocation {
  offset: number;
  size: number;
  type: TypeRef;
}

/**
 * Locations found so far, by set, ABI, struct and path (null: no such field): asked for on every
 * call of a request. Keyed level by level, so a lookup builds no string.
 */
const locations = new WeakMap<SchemaSet, Partial<Record<Abi, Map<string, Map<string, Readonly<FieldLocation> | null>>>>>();

/** The location of a dotted field path (`u.io.port`, `ranges[3].nmsrs`, `entries[].data` = element 0). */
export function fieldLocation(set: SchemaSet, abi: Abi, structName: string, path: string): Readonly<FieldLocation> | undefined {
  let byAbi = locations.get(set);
  if (!byAbi) locations.set(set, (byAbi = {}));
  const byStruct = (byAbi[abi] ??= new Map());
  let byPath = byStruct.get(structName);
  if (!byPath) byStruct.set(structName, (byPath = new Map()));
  let loc = byPath.get(path);
  if (loc === undefined) byPath.set(path, (loc = locate(set, abi, structName, path) ?? null));
  return loc ?? undefined;
}

function locate(set: SchemaSet, abi: Abi, structName: string, path: string): Readonly<FieldLocation> | undefined {
  let type: TypeRef = { kind: 'struct', name: structName };
  let offset = 0;
  let size = 0;
  for (const part of path.split('.')) {
    const m = /^(\w+)(?:\[(\d*)\])?$/.exec(part);
    if (!m || type.kind !== 'struct') return undefined;
    const layout = layoutOf(set, abi, type.name);
    const f = layout?.fields.find((x) => x.name === m[1]);
    if (!f) return undefined;
    offset += f.offset;
    size = f.size;
    type = f.type;
    if (m[2] !== undefined) {
      if (type.kind !== 'array' && type.kind !== 'flex') return undefined;
      const elem = type.element;
      const es = typeSize(set, abi, elem);
      offset += (m[2] === '' ? 0 : Number(m[2])) * es;
      size = es;
      type = elem;
    }
  }
  return Object.freeze({ offset, size, type });
}

/** The field paths a byte range of a struct covers, for reports (`rbx`, `entries[3].data`). */
export function fieldsCovering(set: SchemaSet, abi: Abi, type: TypeRef, start: number, end: number, prefix = ''): string[] {
  if (type.kind === 'struct') {
    const layout = layoutOf(set, abi, type.name);
    if (!layout) return [prefix || '?'];
    const out: string[] = [];
    for (const f of layout.fields) {
      const fsize = f.type.kind === 'flex' ? Math.max(0, end - f.offset) : f.size;
      if (!f.name || f.offset >= end || f.offset + fsize <= start) continue;
      const path = prefix ? `${prefix}.${f.name}` : f.name;
      out.push(...fieldsCovering(set, abi, f.type, Math.max(0, start - f.offset), Math.min(fsize, end - f.offset), path));
    }
    return out.length > 0 ? out : [prefix ? `${prefix}(padding)` : '(padding)'];
  }
  if (type.kind === 'array' || type.kind === 'flex') {
    const es = typeSize(set, abi, type.element);
    if (es === 0) return [prefix];
    const first = Math.floor(start / es);
    const last = Math.floor((end - 1) / es);
    const out: string[] = [];
    const whole = fieldsCovering(set, abi, type.element, 0, es, '').join();
    for (let i = first; i <= last && out.length < 64; i++) {
      const inner = fieldsCovering(set, abi, type.element, Math.max(0, start - i * es), Math.min(es, end - i * es), '');
      // An element covered field by field is named as the element.
      if (inner.join() === whole && type.element.kind === 'struct') out.push(`${prefix}[${i}]`);
      else out.push(...fieldsCovering(set, abi, type.element, Math.max(0, start - i * es), Math.min(es, end - i * es), `${prefix}[${i}]`));
    }
    return out;
  }
  return [prefix];
}

export interface DecodedExit {
  reason: string | null;
  reasonValue: number;
  /** The union member that describes the exit, decoded. */
  data: Decoded;
  member?: string;
}

/** Decodes the run page after a run ioctl: its reason and the union member it fills. */
export function decodeExit(set: SchemaSet, abi: Abi, run: Uint8Array): DecodedExit | undefined {
  const page = set.runPage;
  if (!page) return undefined;
  const reasonValue = readField(set, abi, page.type, page.reasonField, run);
  if (reasonValue === undefined) return undefined;
  const value = Number(reasonValue);
  const exit = page.exits.find((e) => e.value === value);
  const out: DecodedExit = { reason: exit?.name ?? null, reasonValue: value, data: undefined };
  if (exit?.member) {
    const loc = fieldLocation(set, abi, page.type, exit.member);
    if (loc) {
      out.member = exit.member;
      out.data = decodeType(set, abi, loc.type, run, loc.offset);
    }
  }
  return out;
}

/** Writes a decoded-shaped value into bytes; the inverse of decodeType for the fields given. */
export function encodeType(set: SchemaSet, abi: Abi, type: TypeRef, value: Decoded, out: Uint8Array, offset = 0): void {
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  typeCodec(set, abi, type).encode(value, out, view, offset);
}
