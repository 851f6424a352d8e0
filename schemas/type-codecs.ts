// Encoders and decoders built once per schema set, ABI and type, for the codec: a struct becomes a
// list of its named fields, each with the codec of its type, so that decoding or encoding one walks
// no layout by name and converts through BigInt only for 64-bit fields. Schema sets are data that
// never changes once loaded, so what is built from one holds for as long as the set lives.

import type { Abi, ScalarKind, SchemaSet, TypeRef } from './model.js';
import { layoutOf } from './registry.js';

export type Decoded = number | bigint | boolean | Uint8Array | undefined | Decoded[] | { [field: string]: Decoded };

export interface TypeCodec {
  /** Bytes the type takes (0 for flexible arrays and opaque bytes). */
  readonly size: number;
  /** `bytes[offset..]` as the type; `siblings` are the fields decoded so far (a flexible array's count). */
  decode(bytes: Uint8Array, view: DataView, offset: number, siblings: Record<string, Decoded> | undefined): Decoded;
  /** Writes a decoded-shaped value at `offset`; undefined values and fields are left alone. */
  encode(value: Decoded, out: Uint8Array, view: DataView, offset: number): void;
}

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

/** A scalar of `kind` at `offset` (pointers and longs are 4 or 8 bytes by the ABI). */
export function readScalar(view: DataView, offset: number, kind: ScalarKind, abi: Abi): number | bigint | boolean {
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

/**
 * Stores the value's low `size` bytes, as BigInt(value) masked to the width would: DataView's
 * setters reduce an integral number (and a bigint) modulo 2^width themselves. Anything else goes
 * through BigInt, which throws on what it cannot convert.
 */
function scalarWriter(size: number): (value: Decoded, view: DataView, offset: number) => void {
  if (size === 8) {
    return (value, view, offset) => {
      const v = typeof value === 'bigint' ? value : typeof value === 'boolean' ? BigInt(value ? 1 : 0) : BigInt(value as number);
      view.setBigUint64(offset, v, true);
    };
  }
  const set = size === 4 ? view32 : size === 2 ? view16 : view8;
  return (value, view, offset) => {
    let v: number;
    if (typeof value === 'number' && Number.isInteger(value)) v = value;
    else if (typeof value === 'boolean') v = value ? 1 : 0;
    else v = Number(BigInt.asUintN(size * 8, BigInt(value as number | bigint)));
    set(view, offset, v);
  };
}

const view32 = (view: DataView, offset: number, v: number) => view.setUint32(offset, v, true);
const view16 = (view: DataView, offset: number, v: number) => view.setUint16(offset, v, true);
const view8 = (view: DataView, offset: number, v: number) => view.setUint8(offset, v);

function scalarCodec(kind: ScalarKind, abi: Abi): TypeCodec {
  const size = scalarSize(kind, abi);
  const write = scalarWriter(size);
  return {
    size,
    decode: (bytes, view, offset) => (offset + size <= bytes.length ? readScalar(view, offset, kind, abi) : undefined),
    encode: (value, _out, view, offset) => {
      if (value !== undefined) write(value, view, offset);
    },
  };
}

const OPAQUE: TypeCodec = { size: 0, decode: () => undefined, encode: () => {} };

/** Up to `count` elements, as far as the bytes go; arrays of single bytes stay bytes. */
function decodeElements(element: TypeCodec, byteElements: boolean, count: number, bytes: Uint8Array, view: DataView, offset: number): Decoded {
  const size = element.size;
  if (byteElements) {
    const end = Math.min(bytes.length, offset + count);
    return offset < end ? bytes.slice(offset, end) : undefined;
  }
  const out: Decoded[] = [];
  for (let i = 0; i < count && offset + i * size < bytes.length; i++) out.push(element.decode(bytes, view, offset + i * size, undefined));
  return out;
}

function encodeElements(element: TypeCodec, value: Decoded, out: Uint8Array, view: DataView, offset: number): void {
  if (value === undefined) return;
  if (value instanceof Uint8Array) { out.set(value, offset); return; }
  (value as Decoded[]).forEach((v, i) => element.encode(v, out, view, offset + i * element.size));
}

/** The codecs of one set and ABI: structs by name, other types by their (schema-held) reference. */
class Codecs {
  private readonly structs = new Map<string, TypeCodec>();
  private readonly refs = new WeakMap<TypeRef, TypeCodec>();

  constructor(
    private readonly set: SchemaSet,
    private readonly abi: Abi,
  ) {}

  of(type: TypeRef): TypeCodec {
    if (type.kind === 'struct') return this.struct(type.name);
    let c = this.refs.get(type);
    if (!c) this.refs.set(type, (c = this.build(type)));
    return c;
  }

  private build(type: Exclude<TypeRef, { kind: 'struct' }>): TypeCodec {
    switch (type.kind) {
      case 'scalar': return scalarCodec(type.scalar, this.abi);
      case 'bytes': return OPAQUE;
      case 'array': {
        const element = this.of(type.element);
        const bytewise = type.element.kind === 'scalar' && element.size === 1;
        const count = type.count;
        return {
          size: count * element.size,
          decode: (bytes, view, offset) => decodeElements(element, bytewise, count, bytes, view, offset),
          encode: (value, out, view, offset) => encodeElements(element, value, out, view, offset),
        };
      }
      case 'flex': {
        const element = this.of(type.element);
        const bytewise = type.element.kind === 'scalar' && element.size === 1;
        const countField = type.countField;
        return {
          size: 0,
          decode: (bytes, view, offset, siblings) => {
            const count = siblings?.[countField];
            const n = typeof count === 'number' ? count : typeof count === 'bigint' ? Number(count) : 0;
            // Only what the buffer holds: a count is untrusted input.
            const fits = element.size > 0 ? Math.max(0, Math.floor((bytes.length - offset) / element.size)) : 0;
            return decodeElements(element, bytewise, Math.min(n, fits), bytes, view, offset);
          },
          encode: (value, out, view, offset) => encodeElements(element, value, out, view, offset),
        };
      }
    }
  }

  private struct(name: string): TypeCodec {
    const known = this.structs.get(name);
    if (known) return known;
    const layout = layoutOf(this.set, this.abi, name);
    if (!layout) {
      this.structs.set(name, OPAQUE);
      return OPAQUE;
    }
    const fields: { name: string; offset: number; codec: TypeCodec; shift: bigint; mask: bigint; bits: boolean }[] = [];
    const codec: TypeCodec = {
      size: layout.size,
      decode: (bytes, view, offset) => {
        const out: Record<string, Decoded> = {};
        for (const f of fields) {
          const v = f.codec.decode(bytes, view, offset + f.offset, out);
          out[f.name] = f.bits && v !== undefined ? Number((BigInt(v as number | bigint) >> f.shift) & f.mask) : v;
        }
        return out;
      },
      encode: (value, out, view, offset) => {
        if (value === undefined) return;
        const given = value as Record<string, Decoded>;
        for (const f of fields) {
          const v = given[f.name];
          if (v !== undefined && !f.bits) f.codec.encode(v, out, view, offset + f.offset);
        }
      },
    };
    // Registered before its fields are built, so a layout that (wrongly) nests itself ends.
    this.structs.set(name, codec);
    for (const f of layout.fields) {
      if (!f.name) continue;
      const bits = f.bits !== undefined;
      fields.push({ name: f.name, offset: f.offset, codec: this.of(f.type), bits, shift: BigInt(f.bits?.shift ?? 0), mask: (1n << BigInt(f.bits?.width ?? 0)) - 1n });
    }
    return codec;
  }
}

const bySet = new WeakMap<SchemaSet, Partial<Record<Abi, Codecs>>>();

/** The codec of `type` in `set`'s layouts for `abi`. */
export function typeCodec(set: SchemaSet, abi: Abi, type: TypeRef): TypeCodec {
  let abis = bySet.get(set);
  if (!abis) bySet.set(set, (abis = {}));
  return (abis[abi] ??= new Codecs(set, abi)).of(type);
}
