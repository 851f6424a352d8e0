// What the emulated drivers' front-ends share: the table of open fds, and the way a request on an
// fd reaches its handler: the schema by the kind of object the fd reaches (looked up once per pair,
// the registry does not change), that kind's handler, and a KvmErrno thrown by it as -1 and errno.

import type { IoctlSchema } from '../schemas/model.js';
import type { SchemaRegistry } from '../schemas/registry.js';
import type { IoctlResult } from './driver.js';
import { Errno, KvmErrno } from './kvm/errors.js';

export class FdDispatch<K extends string, O extends { kind: K }, H> {
  readonly fds = new Map<number, O>();
  private readonly schemas = new Map<K, Map<number, IoctlSchema | null>>();

  /** `set`: the schema set or family requests are looked up in. */
  constructor(
    private readonly registry: SchemaRegistry,
    private readonly set: string,
    private readonly handlers: Record<K, Record<string, H>>,
    /** The driver's answer to a request an object kind does not know. */
    private readonly unknown: (kind: K) => IoctlResult,
  ) {}

  /** Binds `object` to the lowest free fd (from 3: 0-2 are the process's stdio). */
  install(object: O): number {
    let fd = 3;
    while (this.fds.has(fd)) fd++;
    this.fds.set(fd, object);
    return fd;
  }

  close(fd: number): number {
    return this.fds.delete(fd) ? 0 : -Errno.EBADF;
  }

  /** Runs the handler of `request` for the object behind `fd` through `call`. */
  ioctl(fd: number, request: number, call: (handler: H, object: O, schema: IoctlSchema) => number): IoctlResult {
    const object = this.fds.get(fd);
    if (!object) return { ret: -1, errno: Errno.EBADF };
    const schema = this.schemaFor(request, object.kind);
    const handler = schema && this.handlers[object.kind][schema.name];
    if (!schema || !handler) return this.unknown(object.kind);
    try {
      return { ret: call(handler, object, schema), errno: 0 };
    } catch (e) {
      if (e instanceof KvmErrno) return { ret: -1, errno: e.errno };
      throw e;
    }
  }

  private schemaFor(request: number, kind: K): IoctlSchema | undefined {
    let byRequest = this.schemas.get(kind);
    if (!byRequest) this.schemas.set(kind, (byRequest = new Map()));
    let schema = byRequest.get(request);
    if (schema === undefined) byRequest.set(request, (schema = this.registry.lookup(request, kind, 'lp64', this.set) ?? null));
    return schema ?? undefined;
  }
}
