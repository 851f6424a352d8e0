// The monitor's side of the HAXM ABI, as QEMU's target/i386/hax speaks it: open /dev/HAX, check the
// API version and the capabilities (is the driver working, which features), then requests by name,
// arguments encoded and results decoded through the measured layouts of the haxm-linux schema set.
// A request gated by a capability flag is refused here when HAX_IOCTL_CAPABILITY did not report it.

import { decodeType, encodeType, fieldLocation, typeSize, type Decoded } from '../../schemas/codec.js';
import type { Abi, IoctlSchema, SchemaSet, TypeRef } from '../../schemas/model.js';
import { SchemaRegistry } from '../../schemas/registry.js';
import { errnoName, type Driver, type IoctlResult } from '../driver.js';
import { devicePattern, formatPath } from '../haxm/paths.js';

export type Fields = { [field: string]: Decoded };

/** The API QEMU speaks and the oldest driver API it accepts (hax_cur_version, hax_min_version). */
export const MONITOR_API = { cur: 4, min: 4 } as const;

export const HAXM_LINUX = 'haxm-linux';

/** A HAXM call failed where the monitor cannot go on. */
export class HaxmCallError extends Error {
  constructor(
    readonly ioctl: string,
    readonly errno: number,
  ) {
    super(`${ioctl} failed: ${errnoName(errno)}`);
  }
}

export class HaxmClient {
  readonly abi: Abi = 'lp64';
  /** hax_capabilityinfo.winfo: the feature flags of a working driver. */
  winfo = 0;

  private constructor(
    readonly driver: Driver,
    readonly set: SchemaSet,
    /** The /dev/HAX fd. */
    readonly system: number,
  ) {}

  /**
   * hax_mod_open, then the version (hax_version_support: the driver's API must reach the monitor's
   * minimum, the monitor's must reach the driver's compatible one), then the capabilities
   * (hax_get_capability: a driver that is not working says why in winfo). QEMU itself asks the
   * capabilities first; asking the version first is what ioctlgrind's protocol check expects.
   */
  static open(driver: Driver, registry = SchemaRegistry.default()): HaxmClient {
    const set = registry.set(HAXM_LINUX);
    const path = devicePattern(set, 'system');
    const fd = driver.open(path);
    if (fd < 0) throw new HaxmCallError(`open ${path}`, -fd);
    const client = new HaxmClient(driver, set, fd);
    const version = client.struct(fd, 'HAX_IOCTL_VERSION', {}).out;
    if (MONITOR_API.min > (version.cur_version as number)) throw new Error(`HAXM speaks API ${String(version.cur_version)}; the monitor needs ${MONITOR_API.min}`);
    if (MONITOR_API.cur < (version.compat_version as number)) throw new Error(`HAXM needs monitors of API ${String(version.compat_version)} or later; the monitor speaks ${MONITOR_API.cur}`);
    const cap = client.struct(fd, 'HAX_IOCTL_CAPABILITY', {}).out;
    if (((cap.wstatus as number) & client.constant('HAX_CAP_WORKSTATUS_MASK')) !== client.constant('HAX_CAP_STATUS_WORKING')) {
      const why = (cap.winfo as number) & client.constant('HAX_CAP_FAILREASON_VT') ? 'VT-x is not enabled' : 'NX is not enabled';
      throw new Error(`HAXM is not working: ${why}`);
    }
    client.winfo = cap.winfo as number;
    return client;
  }

  /** The device path of a VM or vCPU by its ids. */
  path(kind: 'vm' | 'vcpu', ...ids: number[]): string {
    return formatPath(devicePattern(this.set, kind), ids);
  }

  /** Opens a VM or vCPU by its path. */
  openObject(kind: 'vm' | 'vcpu', ...ids: number[]): number {
    const path = this.path(kind, ...ids);
    const fd = this.driver.open(path);
    if (fd < 0) throw new HaxmCallError(`open ${path}`, -fd);
    return fd;
  }

  schema(name: string): IoctlSchema {
    const s = this.set.ioctls.find((i) => i.name === name);
    if (!s) throw new Error(`no ioctl ${name} in ${this.set.id}`);
    return s;
  }

  constant(name: string): number {
    const v = this.set.constants[name];
    if (v === undefined) throw new Error(`no constant ${name} in ${this.set.id}`);
    return v;
  }

  /** Whether HAX_IOCTL_CAPABILITY reported the flag (`HAX_CAP_64BIT_RAMBLOCK`). */
  has(capability: string): boolean {
    return (this.winfo & this.constant(capability)) !== 0;
  }

  /** The call as made, without interpreting a failure. */
  raw(fd: number, name: string, arg: number | bigint = 0): IoctlResult {
    const schema = this.schema(name);
    if (schema.capability && !this.has(schema.capability)) throw new Error(`HAXM lacks ${schema.capability}, which ${name} needs`);
    return this.driver.ioctl(fd, schema.numbers[this.abi]!, arg);
  }

  /**
   * An ioctl with a pointer argument (a struct's fields, or a scalar's value): encoded into user
   * memory, the call made, the argument decoded again afterwards.
   */
  struct(fd: number, name: string, input: Fields | number): { ret: number; out: Fields; value: number } {
    const type = this.argType(this.schema(name));
    const bytes = new Uint8Array(typeSize(this.set, this.abi, type));
    encodeType(this.set, this.abi, type, input, bytes);
    const memory = this.driver.memory;
    const addr = memory.alloc(bytes.length, 8);
    try {
      memory.write(addr, bytes);
      const r = this.raw(fd, name, addr);
      if (r.ret < 0) throw new HaxmCallError(name, r.errno);
      const out = decodeType(this.set, this.abi, type, memory.read(addr, bytes.length));
      return typeof out === 'object' && !(out instanceof Uint8Array) ? { ret: r.ret, out: out as Fields, value: 0 } : { ret: r.ret, out: {}, value: Number(out) };
    } finally {
      memory.free(addr);
    }
  }

  decode(type: TypeRef, bytes: Uint8Array): Fields {
    return decodeType(this.set, this.abi, type, bytes) as Fields;
  }

  encode(type: TypeRef, value: Decoded): Uint8Array {
    const out = new Uint8Array(typeSize(this.set, this.abi, type));
    encodeType(this.set, this.abi, type, value, out);
    return out;
  }

  sizeOf(struct: string): number {
    return typeSize(this.set, this.abi, { kind: 'struct', name: struct });
  }

  /** Byte offset of a field path in a struct (`value` in `hax_fastmmio`). */
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
