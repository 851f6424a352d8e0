// The event model every part shares: what a trace holds. The recorder writes these, the checker and
// the replayer read them. Numbers that may exceed 2^53 (argument values, kernel pointers) are bigint.

import type { Abi, Direction } from '../schemas/model.js';

/** The first frame of every trace. */
export interface TraceHeader {
  format: 'ioctlgrind-trace';
  formatVersion: 1;
  tool: string;
  /** Schema set ids (with their content hash) the recorder decoded with. */
  schemaSets: string[];
  host: { hostname: string; kernel: string; arch: string };
  /** The target's command line. */
  command: string[];
  /** The target's data model (lp64 for x86_64 processes, ilp32 for i386 ones). */
  abi: Abi;
  /** Who recorded: the native LD_PRELOAD shim, or the in-process interposer on the emulated core. */
  recorder: 'native' | 'emulator' | 'kvm-inprocess';
  /** True when regions carry exact read/write sets (the emulated core knows every byte it touched). */
  exact: boolean;
  /** True when regions carry memcheck definedness. */
  memcheck: boolean;
  startedAt: string;
}

/**
 * A span of user memory an ioctl touched. `role` is `arg`, a pointer path (`addr`, `entries[3]`),
 * or `run` / `run.io` for the shared exit page.
 */
export interface Region {
  role: string;
  addr: number;
  length: number;
  dir: Direction;
  before?: Uint8Array;
  after?: Uint8Array;
  /** Bit i set: byte i was undefined when the call was made (memcheck traces). */
  undef?: Uint8Array;
  /** Where memcheck says the block was allocated. */
  allocSite?: string;
  /** Bit i set: the driver read byte i (exact traces). */
  read?: Uint8Array;
  /** Bit i set: the driver wrote byte i (exact traces). */
  written?: Uint8Array;
  /** Why the region could not be captured whole (unreadable memory, unknown payload size). */
  problem?: string;
}

interface EventBase {
  seq: number;
  pid: number;
  tid: number;
  /** Nanoseconds since the trace started. */
  t?: number;
}

export interface OpenEvent extends EventBase {
  type: 'open';
  path: string;
  flags: number;
  fd: number;
  errno: number;
}

export interface CloseEvent extends EventBase {
  type: 'close';
  fd: number;
  ret: number;
  errno: number;
}

export interface DupEvent extends EventBase {
  type: 'dup';
  oldfd: number;
  newfd: number;
}

export interface MmapEvent extends EventBase {
  type: 'mmap';
  fd: number;
  addr: number;
  length: number;
  prot: number;
  flags: number;
  offset: number;
}

export interface MunmapEvent extends EventBase {
  type: 'munmap';
  addr: number;
  length: number;
}

export interface IoctlEvent extends EventBase {
  type: 'ioctl';
  fd: number;
  request: number;
  arg: number | bigint;
  ret: number;
  errno: number;
  /** Duration of the call in nanoseconds. */
  dt?: number;
  /** Windows DeviceIoControl: the input and output buffer lengths the caller passed. */
  buffers?: { in: number; out: number };
  regions: Region[];
}

/** Guest memory as the monitor set it: at registration, and the changes it made between runs. */
export interface MemoryEvent extends EventBase {
  type: 'memory';
  why: 'register' | 'write';
  /** User (host virtual) address. */
  addr: number;
  data: Uint8Array;
}

export interface ForkEvent extends EventBase {
  type: 'fork';
  child: number;
}

export interface ExecEvent extends EventBase {
  type: 'exec';
  argv: string[];
}

export interface ExitEvent extends EventBase {
  type: 'exit';
  status: number;
  signal?: number;
}

/** A recorder's own remark: dropped data, a region it could not read. */
export interface NoteEvent extends EventBase {
  type: 'note';
  message: string;
}

export type TraceEvent =
  | OpenEvent
  | CloseEvent
  | DupEvent
  | MmapEvent
  | MunmapEvent
  | IoctlEvent
  | MemoryEvent
  | ForkEvent
  | ExecEvent
  | ExitEvent
  | NoteEvent;

export type EventType = TraceEvent['type'];
