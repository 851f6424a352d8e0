// Compares what a call gave on replay with what it gave when recorded, byte for byte over the bytes
// the driver is declared to write, and names the differing fields with both values.

import type { Abi, SchemaSet, TypeRef } from '../schemas/model.js';
import { fieldLocation, fieldsCovering, readField, decodeType } from '../schemas/codec.js';
import { hex } from '../schemas/ioc.js';

export interface FieldDiff {
  field: string;
  recorded: string;
  replayed: string;
}

function show(v: unknown): string {
  if (typeof v === 'bigint' || typeof v === 'number') return hex(v);
  if (v instanceof Uint8Array) return Buffer.from(v).toString('hex');
  return JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? hex(x) : x instanceof Uint8Array ? Buffer.from(x).toString('hex') : x));
}

/** The value of a field path in bytes, for reports. */
function valueAt(set: SchemaSet, abi: Abi, type: TypeRef | undefined, path: string, bytes: Uint8Array, start: number, end: number): string {
  if (type?.kind === 'struct') {
    const v = readField(set, abi, type.name, path, bytes);
    if (v !== undefined) return hex(v);
    const loc = fieldLocation(set, abi, type.name, path);
    if (loc) return show(decodeType(set, abi, loc.type, bytes, loc.offset));
  }
  return Buffer.from(bytes.subarray(start, end)).toString('hex');
}

/**
 * The fields that differ over the bytes `compare(i)` selects. `type` names fields; without it the
 * differing byte ranges are reported.
 */
export function diffBytes(set: SchemaSet, abi: Abi, type: TypeRef | undefined, recorded: Uint8Array, replayed: Uint8Array, compare: (i: number) => boolean, prefix: string): FieldDiff[] {
  // Identical bytes differ nowhere, whatever `compare` selects: one native comparison settles it.
  if (Buffer.compare(recorded, replayed) === 0) return [];
  const n = Math.min(recorded.length, replayed.length);
  const out: FieldDiff[] = [];
  for (let i = 0; i < n; ) {
    // Bytes first: `compare` is asked only where they differ, so equal outputs cost no call per byte.
    if (recorded[i] === replayed[i] || !compare(i)) { i++; continue; }
    let j = i + 1;
    while (j < n && recorded[j] !== replayed[j] && compare(j)) j++;
    const names = type ? fieldsCovering(set, abi, type, i, j) : [`bytes ${i}..${j - 1}`];
    for (const name of names) {
      const field = `${prefix}${name}`;
      if (out.some((d) => d.field === field)) continue;
      out.push({ field, recorded: valueAt(set, abi, type, name, recorded, i, j), replayed: valueAt(set, abi, type, name, replayed, i, j) });
    }
    i = j;
  }
  if (recorded.length !== replayed.length) out.push({ field: `${prefix}length`, recorded: String(recorded.length), replayed: String(replayed.length) });
  return out;
}
