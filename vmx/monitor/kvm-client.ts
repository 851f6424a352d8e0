// The monitor's side of the KVM ABI: requests by name, arguments encoded and results decoded through
// the measured layouts of the kvm-linux schema set (never hand-computed offsets), capabilities
// checked with KVM_CHECK_EXTENSION before the first use of an ioctl that needs one.

import { decodeType, encodeType, fieldLocation, typeSize, type Decoded } from '../../schemas/codec.js';
import type { Abi, IoctlSchema, SchemaSet, TypeRef } from '../../schemas/model.js';
import { argLength } from '../../schemas/regions.js';
import { SchemaRegistry } from '../../schemas/registry.js';
import { errnoName, type Driver, type IoctlResult } from '../driver.js';

export type Fields = { [field: string]: Decoded };

/** The KVM API version every KVM since 2.6.22 reports. */
export const KVM_API_VERSION = 12;

/** A KVM call failed where the monitor cannot go on. */
export class KvmCallError extends Error {
  constructor(
    readonly ioctl: string,
    readonly errno: number,
  ) {
    super(`${ioctl} failed: ${errnoName(errno)}`);
  }
}

export class KvmClient {
  readonly set: SchemaSet;
  readonly abi: Abi = 'lp64';
  /** CHECK_EXTENSION answers, by capability name. */
  private readonly capabilities = new Map<string, number>();

  private constructor(
    readonly driver: Driver,
    /** The /dev/kvm fd. */
    readonly system: number,
    registry: SchemaRegistry,
  ) {
    this.set = registry.set('kvm-linux');
  }

  /** Opens /dev/kvm and checks the API version. */
  static open(driver: Driver, registry = SchemaRegistry.default()): KvmClient {
    const fd = driver.open('/dev/kvm');
    if (fd < 0) throw new KvmCallError('open /dev/kvm', -fd);
    const client = new KvmClient(driver, fd, registry);
    const version = client.value(fd, 'KVM_GET_API_VERSION');
    if (version !== KVM_API_VERSION) throw new Error(`/dev/kvm speaks API version ${version}, not ${KVM_API_VERSION}`);
    return client;
  }

  schema(name: string): IoctlSchema {
    const s = this.set.ioctls.find((i) => i.name === name);
    if (!s) throw new Error(`no ioctl ${name} in ${this.set.id}`);
    return s;
  }

  /** A constant of the set (`KVM_CAP_USER_MEMORY`, `KVM_EXIT_IO_OUT`). */
  constant(name: string): number {
    const v = this.set.constants[name];
    if (v === undefined) throw new Error(`no constant ${name} in ${this.set.id}`);
    return v;
  }

  /** The capability's CHECK_EXTENSION value; throws when KVM lacks it. */
  require(capability: string): number {
    let v = this.capabilities.get(capability);
    if (v === undefined) {
      v = this.value(this.system, 'KVM_CHECK_EXTENSION', this.constant(capability));
      this.capabilities.set(capability, v);
    }
    if (v <= 0) throw new Error(`KVM lacks ${capability}`);
    return v;
  }

  /** The call as made, without interpreting a failure. */
  raw(fd: number, name: string, arg: number | bigint = 0): IoctlResult {
    const schema = this.schema(name);
    if (schema.capability) this.require(schema.capability);
    return this.driver.ioctl(fd, schema.numbers[this.abi]!, arg);
  }

  /** An ioctl whose argument is a value (or none): its return value. */
  value(fd: number, name: string, arg: number | bigint = 0): number {
    const r = this.raw(fd, name, arg);
    if (r.ret < 0) throw new KvmCallError(name, r.errno);
    return r.ret;
  }

  /** Encodes `input` as the request's argument type (a tail sized by its count field). */
  encodeArg(name: string, input: Fields): Uint8Array {
    const schema = this.schema(name);
    const type = this.argType(schema);
    // The fixed part first, to read the count that sizes the tail.
    const { [schema.arg.kind === 'pointer' && schema.arg.tail ? schema.arg.tail.field : '']: _tail, ...fixed } = input;
    const head = new Uint8Array(typeSize(this.set, this.abi, type));
    encodeType(this.set, this.abi, type, fixed, head);
    const bytes = new Uint8Array(argLength(this.set, this.abi, schema, head));
    encodeType(this.set, this.abi, type, input, bytes);
    return bytes;
  }

  decode(type: TypeRef, bytes: Uint8Array, offset = 0): Fields {
    return decodeType(this.set, this.abi, type, bytes, offset) as Fields;
  }

  /**
   * An ioctl with a struct argument: `input` is encoded into user memory, the call made, and the
   * argument decoded again afterwards (with its tail, as long as the count field says).
   */
  struct(fd: number, name: string, input: Fields): { ret: number; out: Fields } {
    const schema = this.schema(name);
    const bytes = this.encodeArg(name, input);
    const memory = this.driver.memory;
    const addr = memory.alloc(bytes.length, 8);
    try {
      memory.write(addr, bytes);
      const ret = this.value(fd, name, addr);
      const after = memory.read(addr, argLength(this.set, this.abi, schema, memory.read(addr, bytes.length)));
      return { ret, out: this.decode(this.argType(schema), after) };
    } finally {
      memory.free(addr);
    }
  }

  /** Byte offset of a field path in a struct (`mmio.data` in `kvm_run`). */
  offsetOf(struct: string, path: string): number {
    const loc = fieldLocation(this.set, this.abi, struct, path);
    if (!loc) throw new Error(`no field ${path} in ${struct}`);
    return loc.offset;
  }

  private argType(schema: IoctlSchema): TypeRef {
    if (schema.arg.kind !== 'pointer') throw new Error(`${schema.name} takes no pointer`);
    return schema.arg.type;
  }
}
