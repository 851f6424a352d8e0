// The replay runs in a 64-bit process: a 32-bit monitor's arguments are carried over to the x86_64
// layout (and its request numbers to the x86_64 ones) on the way in, and back on the way out, so
// that outputs are compared in the layout they were recorded in.

import type { Abi, IoctlSchema, Layout, SchemaSet } from '../schemas/model.js';
import { decodeType, encodeType } from '../schemas/codec.js';
import { argLength } from '../schemas/regions.js';
import { layoutOf } from '../schemas/registry.js';

/** The data model of the replaying process and of the drivers it talks to. */
export const DRIVER_ABI: Abi = 'lp64';

function sameLayout(a: Layout | undefined, b: Layout | undefined): boolean {
  if (!a || !b || a.size !== b.size || a.fields.length !== b.fields.length) return false;
  return a.fields.every((f, i) => f.offset === b.fields[i].offset && f.name === b.fields[i].name);
}

/** True when the argument's bytes mean the same in both ABIs (a pointer may then sit in a u64 union). */
function alike(set: SchemaSet, schema: IoctlSchema, from: Abi): boolean {
  const arg = schema.arg;
  if (from === DRIVER_ABI || arg.kind !== 'pointer' || arg.type.kind !== 'struct') return true;
  return sameLayout(layoutOf(set, from, arg.type.name), layoutOf(set, DRIVER_ABI, arg.type.name));
}

function convert(set: SchemaSet, schema: IoctlSchema, bytes: Uint8Array, from: Abi, to: Abi, into: Uint8Array): Uint8Array {
  const arg = schema.arg;
  if (arg.kind !== 'pointer') return bytes;
  encodeType(set, to, arg.type, decodeType(set, from, arg.type, bytes), into);
  return into;
}

/** The request number a 64-bit replay issues for a recorded one. */
export function driverRequest(schema: IoctlSchema, recorded: number, from: Abi): number {
  return from === DRIVER_ABI ? recorded : (schema.numbers[DRIVER_ABI] ?? recorded);
}

/** Argument bytes recorded in `from`'s layout, laid out for the driver. */
export function toDriverAbi(set: SchemaSet, schema: IoctlSchema, bytes: Uint8Array, from: Abi): Uint8Array {
  if (alike(set, schema, from)) return bytes;
  const wide = convert(set, schema, bytes, from, DRIVER_ABI, new Uint8Array(1 << 16));
  return wide.slice(0, argLength(set, DRIVER_ABI, schema, wide));
}

/** What the driver left in an argument, laid out as the recording has it; `template` fills what no field covers. */
export function fromDriverAbi(set: SchemaSet, schema: IoctlSchema, bytes: Uint8Array, to: Abi, template: Uint8Array): Uint8Array {
  if (alike(set, schema, to)) return bytes;
  return convert(set, schema, bytes, DRIVER_ABI, to, template.slice());
}
