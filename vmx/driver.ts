// The driver interface every back-end implements (the real /dev/kvm through the native addon, the
// KVM front-end over the emulated core), and the user address space a monitor talks to it through.
// Monitors written against it run unchanged on both; the in-process recorder wraps it.


/** What an ioctl gave back: the return value and, when it failed, the errno (else 0). */
export interface IoctlResult {
  ret: number;
  errno: number;
}

/** The errno's name (EINVAL), for one-line messages. */
export { errnoName } from '../schemas/errno.js';

/** A span of user memory the driver read or wrote during one call. */
export interface UserAccess {
  addr: number;
  length: number;
  write: boolean;
}

/** A monitor's view of a hypervisor driver: the system calls a VMM makes on it. */
export interface Driver {
  /** Which back-end this is, for messages and trace headers. */
  readonly kind: 'kvm' | 'emulator';
  /** The process memory the driver's pointers point into. */
  readonly memory: AddressSpace;
  /** open(2) read-write with O_CLOEXEC: an fd, or -errno. */
  open(path: string): number;
  /** ioctl(2); `arg` is a value or a user address. */
  ioctl(fd: number, request: number, arg: number | bigint): IoctlResult;
  /** A shared mapping of `fd` (a vCPU's kvm_run): its address in `memory`, or -errno. */
  mmap(fd: number, length: number, offset: number): number;
  /** 0 or -errno. */
  munmap(addr: number, length: number): number;
  /** 0 or -errno. */
  close(fd: number): number;
}

/** A driver that knows every byte of user memory it touched (the emulated core's front-end). */
export interface ExactDriver extends Driver {
  /** The accesses of the last call (ioctl, mmap, ...), in order. */
  lastAccesses(): readonly UserAccess[];
}

export function isExact(driver: Driver): driver is ExactDriver {
  return typeof (driver as Partial<ExactDriver>).lastAccesses === 'function';
}

/** Where user pages come from: anonymous memory, and the mappings of fds. */
export interface PageSource {
  /** Page-aligned anonymous memory: its address and a zero-copy view of its bytes. */
  mapAnonymous(length: number): { addr: number; bytes: Uint8Array };
  unmap(addr: number, length: number): void;
}

interface Mapping {
  addr: number;
  length: number;
  bytes: Uint8Array;
  /** Mappings the address space made itself for small allocations. */
  arena?: { used: number; live: number };
}

/** Someone else wrote user memory: `addr`, `length` bytes (the monitor, between ioctls). */
export type WriteListener = (addr: number, length: number) => void;

export const PAGE_SIZE = 4096;
/** Small allocations share arenas of this size; larger ones get their own mapping. */
const ARENA_BYTES = 64 * 1024;

const alignUp = (n: number, a: number): number => Math.ceil(n / a) * a;

/**
 * User memory: a set of mappings with zero-copy views, and a small allocator over them. `read` and
 * `write` are the monitor's own accesses (writes are announced to listeners, so the in-process
 * recorder and the emulated core learn what the monitor changed); `view` is for the driver side.
 */
export class AddressSpace {
  private readonly mappings: Mapping[] = [];
  private readonly allocations = new Map<number, { mapping: Mapping; length: number }>();
  private readonly listeners: WriteListener[] = [];

  constructor(private readonly pages: PageSource) {}

  /** `length` bytes aligned to `align` (a power of two, at most a page unless the block is large). */
  alloc(length: number, align = 16): number {
    if (!(length > 0)) throw new RangeError(`cannot allocate ${length} bytes`);
    if (length > ARENA_BYTES / 4 || align > PAGE_SIZE) {
      const mapping = this.addMapping(this.pages.mapAnonymous(alignUp(length, Math.max(align, PAGE_SIZE))));
      if (mapping.addr % align !== 0) throw new RangeError(`mapping at 0x${mapping.addr.toString(16)} is not ${align}-aligned`);
      this.allocations.set(mapping.addr, { mapping, length });
      return mapping.addr;
    }
    let arena = this.mappings.find((m) => m.arena && alignUp(m.arena.used, align) + length <= m.length);
    if (!arena) {
      arena = this.addMapping(this.pages.mapAnonymous(ARENA_BYTES));
      arena.arena = { used: 0, live: 0 };
    }
    const state = arena.arena!;
    const offset = alignUp(state.used, align);
    state.used = offset + length;
    state.live++;
    this.allocations.set(arena.addr + offset, { mapping: arena, length });
    return arena.addr + offset;
  }

  free(addr: number): void {
    const a = this.allocations.get(addr);
    if (!a) throw new RangeError(`0x${addr.toString(16)} was not allocated`);
    this.allocations.delete(addr);
    const arena = a.mapping.arena;
    if (!arena) {
      this.unmap(a.mapping.addr);
      return;
    }
    // An arena is reused from the start once nothing in it is live.
    if (--arena.live === 0) arena.used = 0;
  }

  /** Adds a mapping made elsewhere (an fd's mmap). */
  addMapping(m: { addr: number; bytes: Uint8Array }): Mapping {
    const mapping: Mapping = { addr: m.addr, length: m.bytes.length, bytes: m.bytes };
    this.mappings.push(mapping);
    return mapping;
  }

  /** Drops the mapping that starts at `addr` and returns the memory to its source; false when there is none. */
  unmap(addr: number): boolean {
    const i = this.mappings.findIndex((m) => m.addr === addr);
    if (i < 0) return false;
    const [m] = this.mappings.splice(i, 1);
    this.pages.unmap(m.addr, m.length);
    return true;
  }

  /** A zero-copy view of `length` bytes at `addr`, or undefined when they are not all mapped in one mapping. */
  view(addr: number, length: number): Uint8Array | undefined {
    const m = this.mappingAt(addr);
    if (!m || addr + length > m.addr + m.length) return undefined;
    return m.bytes.subarray(addr - m.addr, addr - m.addr + length);
  }

  /** True when every byte of the span is mapped. */
  mapped(addr: number, length: number): boolean {
    for (let at = addr; at < addr + length; ) {
      const m = this.mappingAt(at);
      if (!m) return false;
      at = m.addr + m.length;
    }
    return true;
  }

  /** A copy of `length` bytes at `addr`; throws on unmapped memory (the monitor's own segfault). */
  read(addr: number, length: number): Uint8Array {
    const out = new Uint8Array(length);
    const m = this.mappingAt(addr);
    // Most spans lie in one mapping: copied without the walk. (Not bytes.slice: a Buffer's is a view.)
    if (m && addr + length <= m.addr + m.length) out.set(m.bytes.subarray(addr - m.addr, addr - m.addr + length));
    else this.span(addr, length, (bytes, at) => out.set(bytes, at));
    return out;
  }

  /** The monitor's write: announced to the listeners. */
  write(addr: number, data: Uint8Array): void {
    this.store(addr, data);
    for (const l of this.listeners) l(addr, data.length);
  }

  /** The driver's write into user memory (copy_to_user): not the monitor's, so not announced. */
  store(addr: number, data: Uint8Array): void {
    const m = this.mappingAt(addr);
    if (m && addr + data.length <= m.addr + m.length) m.bytes.set(data, addr - m.addr);
    else this.span(addr, data.length, (bytes, at) => bytes.set(data.subarray(at, at + bytes.length)));
  }

  /** Be told of every monitor write (not of the driver's). */
  onWrite(listener: WriteListener): () => void {
    this.listeners.push(listener);
    return () => this.listeners.splice(this.listeners.indexOf(listener), 1);
  }

  private mappingAt(addr: number): Mapping | undefined {
    return this.mappings.find((m) => addr >= m.addr && addr < m.addr + m.length);
  }

  /** Calls `fn` with a view of each mapping's part of the span and its offset in the span. */
  private span(addr: number, length: number, fn: (bytes: Uint8Array, at: number) => void): void {
    for (let at = 0; at < length; ) {
      const m = this.mappingAt(addr + at);
      if (!m) throw new RangeError(`user address 0x${(addr + at).toString(16)} is not mapped`);
      const start = addr + at - m.addr;
      const n = Math.min(length - at, m.length - start);
      fn(m.bytes.subarray(start, start + n), at);
      at += n;
    }
  }
}

/**
 * Where an emulated driver puts the memory of the process it serves: from where Linux places mmap
 * areas on x86-64, each mapping followed by an unmapped page so that an overrun faults (EFAULT)
 * instead of landing in the next one.
 */
export class EmulatedAddresses {
  private next = 0x7f0000000000;

  reserve(length: number): number {
    const addr = this.next;
    this.next += alignUp(length, PAGE_SIZE) + PAGE_SIZE;
    return addr;
  }

  /** Anonymous memory for an AddressSpace: fresh zero pages at reserved addresses. */
  pages(): PageSource {
    return { mapAnonymous: (length) => ({ addr: this.reserve(length), bytes: new Uint8Array(length) }), unmap: () => undefined };
  }
}
