// A monitor's side of a driver ABI, whatever the family: requests by name, arguments encoded and
// results decoded through the measured layouts of one schema set (never hand-computed offsets).
// Each family says how it gates a request on a capability and how it opens the driver.

import { decodeType, encodeType, fieldLocation, typeSize, type Decoded } from '../../schemas/codec.js';
import type { Abi, IoctlSchema, SchemaSet, TypeRef } from '../../schemas/model.js';
import { argLength } from '../../schemas/regions.js';
import { errnoName, type Driver, type IoctlResult } from '../driver.js';

export type Fields = { [field: string]: Decoded };

/** A call failed where the monitor cannot go on. */
export class CallError extends Error {
  constructor(
    readonly ioctl: string,
    readonly errno: number,
  ) {
    super(`${ioctl} failed: ${errnoName(errno)}`);
  }
}

export abstract class SchemaClient {
  readonly abi: Abi = 'lp64';

  protected constructor(
    readonly driver: Driver,
    readonly set: SchemaSet,
    /** The fd of the system device (/dev/kvm, /dev/HAX). */
    readonly system: number,
  ) {}

  /** Refuses (throws) a request whose capability the driver lacks. */
  protected abstract gate(schema: IoctlSchema): void;

  /** The error a failed call raises. */
  protected abstract failure(ioctl: string, errno: number): CallError;

  schema(name: string): IoctlSchema {
    const s = this.set.ioctls.find((i) => i.name === name);
    if (!s) throw new Error(`no ioctl ${name} in ${this.set.id}`);
    return s;
  }

  /** A constant of the set (`KVM_CAP_USER_MEMORY`, `HAX_CAP_WORKSTATUS_MASK`). */
  constant(name: string): number {
    const v = this.set.constants[name];
    if (v === undefined) throw new Error(`no constant ${name} in ${this.set.id}`);
    return v;
  }

  /** The call as made, without interpreting a failure. */
  raw(fd: number, name: string, arg: number | bigint = 0): IoctlResult {
    const schema = this.schema(name);
    this.gate(schema);
    return this.driver.ioctl(fd, schema.numbers[this.abi]!, arg);
  }

  /** An ioctl whose argument is a value (or none): its return value. */
  value(fd: number, name: string, arg: number | bigint = 0): number {
    const r = this.raw(fd, name, arg);
    if (r.ret < 0) throw this.failure(name, r.errno);
    return r.ret;
  }

  /** Encodes `input` as the request's argument type (a struct's tail sized by its count field). */
  encodeArg(name: string, input: Fields | number): Uint8Array {
    const schema = this.schema(name);
    const type = this.argType(schema);
    if (typeof input === 'number') return this.encode(type, input);
    // The fixed part first, to read the count that sizes the tail.
    const { [schema.arg.kind === 'pointer' && schema.arg.tail ? schema.arg.tail.field : '']: _tail, ...fixed } = input;
    const bytes = new Uint8Array(argLength(this.set, this.abi, schema, this.encode(type, fixed)));
    encodeType(this.set, this.abi, type, input, bytes);
    return bytes;
  }

  /**
   * An ioctl with a pointer argument (a struct's fields, or a scalar's value): encoded into user
   * memory, the call made, and the argument decoded again afterwards (with its tail, as long as the
   * count field says).
   */
  struct(fd: number, name: string, input: Fields | number): { ret: number; out: Fields; value: number } {
    const schema = this.schema(name);
    const bytes = this.encodeArg(name, input);
    const memory = this.driver.memory;
    const addr = memory.alloc(bytes.length, 8);
    try {
      memory.write(addr, bytes);
      const ret = this.value(fd, name, addr);
      const after = memory.read(addr, Math.max(bytes.length, argLength(this.set, this.abi, schema, memory.read(addr, bytes.length))));
      const out = decodeType(this.set, this.abi, this.argType(schema), after);
      return typeof out === 'object' && !(out instanceof Uint8Array) && !Array.isArray(out) ? { ret, out: out as Fields, value: 0 } : { ret, out: {}, value: Number(out) };
    } finally {
      memory.free(addr);
    }
  }

  decode(type: TypeRef, bytes: Uint8Array, offset = 0): Fields {
    return decodeType(this.set, this.abi, type, bytes, offset) as Fields;
  }

  encode(type: TypeRef, value: Decoded): Uint8Array {
    const out = new Uint8Array(typeSize(this.set, this.abi, type));
    encodeType(this.set, this.abi, type, value, out);
    return out;
  }

  sizeOf(struct: string): number {
    return typeSize(this.set, this.abi, { kind: 'struct', name: struct });
  }

  /** Byte offset of a field path in a struct (`mmio.data` in `kvm_run`). */
  offsetOf(struct: string, path: string): number {
    const loc = fieldLocation(this.set, this.abi, struct, path);
    if (!loc) throw new Error(`no field ${path} in ${struct}`);
    return loc.offset;
  }

  protected argType(schema: IoctlSchema): TypeRef {
    if (schema.arg.kind !== 'pointer') throw new Error(`${schema.name} takes no pointer`);
    return schema.arg.type;
  }
}
