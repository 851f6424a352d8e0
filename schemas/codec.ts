// Decodes and encodes argument bytes through the layouts of a schema set. 64-bit values are bigint;
// byte arrays stay Uint8Array. Bytes missing from a short buffer decode as undefined, never as zero.

import type { Abi, Layout, ScalarKind, SchemaSet, TypeRef } from './model.js';
import { layoutOf } from './registry.js';

export { iocDecode, bsdDecode, ctlCodeDecode, hex } from './ioc.js';

export type Decoded = number | bigint | boolean | Uint8Array | undefined | Decoded[] | { [field: string]: Decoded };

export function scalarSize(kind: ScalarKind, abi: Abi): number {
  switch (kind) {
    case 'u8': case 's8': case 'bool': return 1;
    case 'u16': case 's16': return 2;
    case 'u32': case 's32': return 4;
    case 'u64': case 's64': return 8;
    case 'ptr': return abi === 'ilp32' ? 4 : 8;
    case 'ulong': return abi === 'lp64' ? 8 : 4;
  }
}

export function typeSize(set: SchemaSet, abi: Abi, type: TypeRef): number {
  switch (type.kind) {
    case 'scalar': return scalarSize(type.scalar, abi);
    case 'struct': return layoutOf(set, abi, type.name)?.size ?? 0;
    case 'array': return type.count * typeSize(set, abi, type.element);
    case 'flex': case 'bytes': return 0;
  }
}

function readScalar(view: DataView, offset: number, kind: ScalarKind, abi: Abi): number | bigint | boolean {
  switch (kind) {
    case 'u8': return view.getUint8(offset);
    case 's8': return view.getInt8(offset);
    case 'bool': return view.getUint8(offset) !== 0;
    case 'u16': return view.getUint16(offset, true);
    case 's16': return view.getInt16(offset, true);
    case 'u32': return view.getUint32(offset, true);
    case 's32': return view.getInt32(offset, true);
    case 'u64': return view.getBigUint64(offset, true);
    case 's64': return view.getBigInt64(offset, true);
    case 'ptr': case 'ulong': return scalarSize(kind, abi) === 8 ? view.getBigUint64(offset, true) : view.getUint32(offset, true);
  }
}

/** Decodes `bytes[offset..]` as `type`. A flexible array takes its count from the decoded sibling. */
export function decodeType(set: SchemaSet, abi: Abi, type: TypeRef, bytes: Uint8Array, offset = 0): Decoded {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return decodeAt(set, abi, type, bytes, view, offset, undefined);
}

function decodeAt(set: SchemaSet, abi: Abi, type: TypeRef, bytes: Uint8Array, view: DataView, offset: number, siblings: Record<string, Decoded> | undefined): Decoded {
  switch (type.kind) {
    case 'scalar': {
      const size = scalarSize(type.scalar, abi);
      return offset + size <= bytes.length ? readScalar(view, offset, type.scalar, abi) : undefined;
    }
    case 'bytes': return undefined;
    case 'array': return decodeArray(set, abi, type.element, type.count, bytes, view, offset);
    case 'flex': {
      const count = siblings?.[type.countField];
      const n = typeof count === 'number' ? count : typeof count === 'bigint' ? Number(count) : 0;
      const elem = typeSize(set, abi, type.element);
      // Only what the buffer holds: a count is untrusted input.
      const fits = elem > 0 ? Math.max(0, Math.floor((bytes.length - offset) / elem)) : 0;
      return decodeArray(set, abi, type.element, Math.min(n, fits), bytes, view, offset);
    }
    case 'struct': {
      const layout = layoutOf(set, abi, type.name);
      if (!layout) return undefined;
      return decodeLayout(set, abi, layout, bytes, view, offset);
    }
  }
}

function decodeArray(set: SchemaSet, abi: Abi, element: TypeRef, count: number, bytes: Uint8Array, view: DataView, offset: number): Decoded {
  const size = typeSize(set, abi, element);
  if (element.kind === 'scalar' && size === 1) {
    const end = Math.min(bytes.length, offset + count);
    return offset < end ? bytes.slice(offset, end) : undefined;
  }
  const out: Decoded[] = [];
  for (let i = 0; i < count && offset + i * size < bytes.length; i++) out.push(decodeAt(set, abi, element, bytes, view, offset + i * size, undefined));
  return out;
}

function decodeLayout(set: SchemaSet, abi: Abi, layout: Layout, bytes: Uint8Array, view: DataView, offset: number): Decoded {
  const out: Record<string, Decoded> = {};
  for (const f of layout.fields) {
    if (!f.name) continue;
    if (f.bits) {
      const unit = decodeAt(set, abi, f.type, bytes, view, offset + f.offset, out);
      if (unit === undefined) { out[f.name] = undefined; continue; }
      const v = BigInt(unit as number | bigint);
      out[f.name] = Number((v >> BigInt(f.bits.shift)) & ((1n << BigInt(f.bits.width)) - 1n));
      continue;
    }
    out[f.name] = decodeAt(set, abi, f.type, bytes, view, offset + f.offset, out);
  }
  return out;
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

/** The location of a dotted field path (`u.io.port`, `ranges[3].nmsrs`, `entries[].data` = element 0). */
export function fieldLocation(set: SchemaSet, abi: Abi, structName: string, path: string): FieldLocation | undefined {
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
  return { offset, size, type };
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
  const exit = page.exits.find((e) => BigInt(e.value) === reasonValue);
  const out: DecodedExit = { reason: exit?.name ?? null, reasonValue: Number(reasonValue), data: undefined };
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
  encodeAt(set, abi, type, value, out, view, offset);
}

function encodeAt(set: SchemaSet, abi: Abi, type: TypeRef, value: Decoded, out: Uint8Array, view: DataView, offset: number): void {
  if (value === undefined) return;
  switch (type.kind) {
    case 'scalar': {
      const size = scalarSize(type.scalar, abi);
      const v = typeof value === 'boolean' ? BigInt(value ? 1 : 0) : BigInt(value as number | bigint);
      const mask = (1n << BigInt(size * 8)) - 1n;
      const u = v & mask;
      if (size === 8) view.setBigUint64(offset, u, true);
      else if (size === 4) view.setUint32(offset, Number(u), true);
      else if (size === 2) view.setUint16(offset, Number(u), true);
      else view.setUint8(offset, Number(u));
      return;
    }
    case 'array': case 'flex': {
      const es = typeSize(set, abi, type.element);
      if (value instanceof Uint8Array) { out.set(value, offset); return; }
      (value as Decoded[]).forEach((v, i) => encodeAt(set, abi, type.element, v, out, view, offset + i * es));
      return;
    }
    case 'struct': {
      const layout = layoutOf(set, abi, type.name);
      const fields = value as Record<string, Decoded>;
      for (const f of layout?.fields ?? []) {
        if (f.name && fields[f.name] !== undefined && !f.bits) encodeAt(set, abi, f.type, fields[f.name], out, view, offset + f.offset);
      }
      return;
    }
    case 'bytes': return;
  }
}
