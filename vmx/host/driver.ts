// The real /dev/kvm as a Driver: the kvmhost addon's system calls over real process memory.

import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { constants } from 'node:os';
import { join } from 'node:path';
import { packageRoot } from '../../schemas/paths.js';
import { AddressSpace, errnoName, type Driver, type IoctlResult } from '../driver.js';

export interface KvmHostAddon {
  open(path: string): number;
  close(fd: number): number;
  ioctl(fd: number, request: number, arg: number | bigint): number;
  mmap(fd: number, length: number, offset: number): number;
  munmap(addr: number, length: number): number;
  view(addr: number, length: number): ArrayBuffer;
  errno(): number;
}

/** The back-end cannot be used here: no addon, no /dev/kvm, no permission. One line for the user. */
export class HostUnavailable extends Error {}

export const KVM_PATH = '/dev/kvm';

let addon: KvmHostAddon | undefined;

/**
 * Loads build/kvmhost.node, building it first where npm install did not (--ignore-scripts, a wiped
 * build/). The recorder maps its raw logs through it too.
 */
export function loadAddon(): KvmHostAddon {
  if (addon) return addon;
  const root = packageRoot();
  const path = join(root, 'build', 'kvmhost.node');
  const script = join(root, 'vmx', 'host', 'build.mjs');
  if (!existsSync(path)) execFileSync(process.execPath, [script], { stdio: 'ignore' });
  if (!existsSync(path)) throw new HostUnavailable(`the /dev/kvm back-end is not built (${path} is missing): run node ${script} to see why`);
  addon = createRequire(import.meta.url)(path) as KvmHostAddon;
  return addon;
}

/** Opens /dev/kvm read-write once to see whether it can be used; the reason when not. */
export function kvmUnavailable(): string | undefined {
  const missing = addonUnavailable();
  if (missing) return missing;
  const native = loadAddon();
  const fd = native.open(KVM_PATH);
  if (fd < 0) return `cannot open ${KVM_PATH}: ${errnoName(native.errno())}`;
  native.close(fd);
  return undefined;
}

/** Why the addon cannot be loaded (not built, and cannot be built here), or undefined. */
export function addonUnavailable(): string | undefined {
  try {
    loadAddon();
    return undefined;
  } catch (e) {
    if (e instanceof HostUnavailable) return e.message;
    throw e;
  }
}

export class HostDriver implements Driver {
  readonly kind = 'kvm';
  readonly memory: AddressSpace;
  private readonly native: KvmHostAddon;

  /** Throws HostUnavailable, naming /dev/kvm and the errno, when the device cannot be opened. */
  constructor() {
    const why = kvmUnavailable();
    if (why) throw new HostUnavailable(why);
    const native = (this.native = loadAddon());
    this.memory = new AddressSpace({
      mapAnonymous: (length) => {
        const addr = native.mmap(-1, length, 0);
        if (addr < 0) throw new Error(`mmap of ${length} bytes failed: ${errnoName(native.errno())}`);
        return { addr, bytes: new Uint8Array(native.view(addr, length)) };
      },
      unmap: (addr, length) => {
        if (native.munmap(addr, length) < 0) throw new Error(`munmap 0x${addr.toString(16)} failed: ${errnoName(native.errno())}`);
      },
    });
  }

  open(path: string): number {
    const fd = this.native.open(path);
    return fd < 0 ? -this.native.errno() : fd;
  }

  ioctl(fd: number, request: number, arg: number | bigint): IoctlResult {
    const ret = this.native.ioctl(fd, request, arg);
    return ret < 0 ? { ret, errno: this.native.errno() } : { ret, errno: 0 };
  }

  mmap(fd: number, length: number, offset: number): number {
    const addr = this.native.mmap(fd, length, offset);
    if (addr < 0) return -this.native.errno();
    this.memory.addMapping({ addr, bytes: new Uint8Array(this.native.view(addr, length)) });
    return addr;
  }

  munmap(addr: number, length: number): number {
    return length > 0 && this.memory.unmap(addr) ? 0 : -constants.errno.EINVAL;
  }

  close(fd: number): number {
    return this.native.close(fd) < 0 ? -this.native.errno() : 0;
  }
}
