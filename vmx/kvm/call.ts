// One ioctl as a handler sees it: the object, the schema the registry resolved the request to, the
// argument, and struct access to user memory through the measured layouts (never hand offsets).

import { decodeType, encodeType, fieldLocation, typeSize, type Decoded } from '../../schemas/codec.js';
import type { Abi, IoctlSchema, SchemaSet, TypeRef } from '../../schemas/model.js';
import type { EmulatedKvm } from './frontend.js';
import type { KvmObject } from './objects.js';
import type { UserMemory } from './user-memory.js';

export type Fields = { [field: string]: Decoded };

/** Struct access by name over user memory, for the front-end's set and ABI. */
export class Structs {
  constructor(
    readonly set: SchemaSet,
    readonly abi: Abi,
  ) {}

  size(name: string): number {
    return typeSize(this.set, this.abi, { kind: 'struct', name });
  }

  offsetOf(struct: string, path: string): number {
    const loc = fieldLocation(this.set, this.abi, struct, path);
    if (!loc) throw new Error(`no field ${path} in ${struct}`);
    return loc.offset;
  }

  decode(name: string, bytes: Uint8Array): Fields {
    return decodeType(this.set, this.abi, { kind: 'struct', name }, bytes) as Fields;
  }

  decodeAs(type: TypeRef, bytes: Uint8Array): Decoded {
    return decodeType(this.set, this.abi, type, bytes);
  }

  encode(type: TypeRef, value: Decoded, length: number): Uint8Array {
    const out = new Uint8Array(length);
    encodeType(this.set, this.abi, type, value, out);
    return out;
  }

  /** copy_from_user of a whole struct. */
  read(user: UserMemory, name: string, addr: number | bigint): Fields {
    return this.decode(name, user.read(addr, this.size(name)));
  }

  /** copy_from_user of `count` array elements of struct `name`. */
  readArray(user: UserMemory, name: string, addr: number | bigint, count: number): Fields[] {
    const size = this.size(name);
    const bytes = user.read(addr, size * count);
    return Array.from({ length: count }, (_, i) => this.decode(name, bytes.subarray(i * size, (i + 1) * size)));
  }

  /** copy_to_user of a whole struct (fields not given are written as zero, as kernel structs are). */
  write(user: UserMemory, name: string, addr: number | bigint, value: Fields): void {
    user.write(addr, this.encode({ kind: 'struct', name }, value, this.size(name)));
  }

  writeArray(user: UserMemory, name: string, addr: number | bigint, values: Fields[]): void {
    const size = this.size(name);
    const out = new Uint8Array(size * values.length);
    values.forEach((v, i) => encodeType(this.set, this.abi, { kind: 'struct', name }, v, out, i * size));
    user.write(addr, out);
  }
}

export interface Call {
  kvm: EmulatedKvm;
  object: KvmObject;
  schema: IoctlSchema;
  /** The ioctl's argument: a value, or the user address of its struct. */
  arg: number | bigint;
  user: UserMemory;
  structs: Structs;
}

/** Handles one request; returns the ioctl's return value or throws KvmErrno. */
export type Handler = (call: Call) => number;

/** The struct name of a pointer argument. */
export function argStruct(call: Call): string {
  const arg = call.schema.arg;
  if (arg.kind !== 'pointer' || arg.type.kind !== 'struct') throw new Error(`${call.schema.name} has no struct argument`);
  return arg.type.name;
}

/** copy_from_user of the whole argument struct. */
export function readArg(call: Call): Fields {
  return call.structs.read(call.user, argStruct(call), call.arg);
}

/** copy_to_user of the whole argument struct. */
export function writeArg(call: Call, value: Fields): void {
  call.structs.write(call.user, argStruct(call), call.arg, value);
}

/** The argument as an unsigned value (ioctls that take a number, not a pointer). */
export function argValue(call: Call): number {
  return Number(BigInt.asUintN(64, BigInt(call.arg)));
}
