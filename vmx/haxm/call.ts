// One HAXM ioctl as a handler sees it: the object, the schema the registry resolved the request to,
// the argument (always a user address on HAXM, or none), and struct access through the measured
// layouts of the haxm-linux set. Struct and user-memory access are the KVM front-end's own.

import type { IoctlSchema, TypeRef } from '../../schemas/model.js';
import { typeSize } from '../../schemas/codec.js';
import type { Fields, Structs } from '../kvm/call.js';
import type { UserMemory } from '../kvm/user-memory.js';
import type { EmulatedHaxm } from './frontend.js';
import type { HaxmObject } from './objects.js';

export type { Fields };

export interface HaxmCall {
  haxm: EmulatedHaxm;
  object: HaxmObject;
  schema: IoctlSchema;
  /** The user address of the argument. */
  arg: number | bigint;
  user: UserMemory;
  structs: Structs;
}

/** Handles one request; returns the ioctl's return value or throws KvmErrno (the errno carrier both front-ends share). */
export type Handler = (call: HaxmCall) => number;

/** The pointee type of the argument. */
function argType(call: HaxmCall): TypeRef {
  const arg = call.schema.arg;
  if (arg.kind !== 'pointer') throw new Error(`${call.schema.name} takes no pointer`);
  return arg.type;
}

/** copy_from_user of the whole argument (a struct's fields, or a scalar). */
export function readArg(call: HaxmCall): Fields {
  const type = argType(call);
  if (type.kind !== 'struct') throw new Error(`${call.schema.name} has no struct argument`);
  return call.structs.read(call.user, type.name, call.arg);
}

/** copy_to_user of the whole argument struct. */
export function writeArg(call: HaxmCall, value: Fields): void {
  const type = argType(call);
  if (type.kind !== 'struct') throw new Error(`${call.schema.name} has no struct argument`);
  call.structs.write(call.user, type.name, call.arg, value);
}

/** copy_from_user of a u32 argument, or of its first byte only (the Linux driver copies 1 byte of INTERRUPT's). */
export function readScalar(call: HaxmCall, firstByteOnly = false): number {
  const size = firstByteOnly ? 1 : scalarSize(call);
  return Number(call.structs.decodeAs({ kind: 'scalar', scalar: size === 1 ? 'u8' : 'u32' }, call.user.read(call.arg, size)));
}

/** copy_to_user of a scalar argument. */
export function writeScalar(call: HaxmCall, value: number): void {
  call.user.write(call.arg, call.structs.encode(argType(call), value, scalarSize(call)));
}

function scalarSize(call: HaxmCall): number {
  const type = argType(call);
  if (type.kind !== 'scalar') throw new Error(`${call.schema.name} has no scalar argument`);
  return typeSize(call.structs.set, call.structs.abi, type);
}
