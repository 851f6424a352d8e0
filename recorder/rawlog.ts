// Reads one raw log the native shim wrote (format: recorder/shim/shim.h, docs/recorder.md). The
// bytes are untrusted: every length and offset is checked, and a truncated or corrupt log yields
// every complete record before the damage plus one line saying what was wrong.

import type { Direction } from '../schemas/model.js';

const MAGIC = 'IOGRAW01';
const HEADER = 64;
const REC = 32;
const REGION = 24;

const REC_TYPE = {
  open: 1, close: 2, dup: 3, mmap: 4, munmap: 5, ioctlEnter: 6, ioctlExit: 7,
  memory: 8, fork: 9, exec: 10, exit: 11, note: 12, pad: 13,
} as const;

const PROBLEMS = ['', 'memory not readable', 'longer than the recorder captures (truncated)', 'no rule gives the size of this buffer', 'count beyond the schema maximum (clamped)'];
const DIRS: Direction[] = ['none', 'in', 'out', 'inout'];

export interface RawHeader {
  pid: number;
  ppid: number;
  abi: 'lp64' | 'ilp32';
  cursor: number;
  t0: bigint;
  valgrind: boolean;
  dropped: number;
}

export interface RawRegion {
  role: string;
  addr: number;
  length: number;
  dir: Direction;
  data: Uint8Array;
  /** One byte per data byte, as memcheck's VALGRIND_GET_VBITS gave them (nonzero: undefined bits). */
  vbits?: Uint8Array;
  problem?: string;
}

export interface RawRecord {
  /** Where the record starts in its log (ioctl exit records name their entry by it). */
  offset: number;
  seq: number;
  tid: number;
  time: bigint;
  body: RawBody;
}

export type RawBody =
  | { type: 'open'; fd: number; flags: number; errno: number; path: string }
  | { type: 'close'; fd: number; ret: number; errno: number }
  | { type: 'dup'; oldfd: number; newfd: number }
  | { type: 'mmap'; fd: number; prot: number; flags: number; addr: number; length: number; mapOffset: number }
  | { type: 'munmap'; addr: number; length: number }
  | { type: 'ioctlEnter'; fd: number; request: number; arg: bigint; regions: RawRegion[] }
  | { type: 'ioctlExit'; enterOffset: number; ret: number; errno: number; regions: RawRegion[] }
  | { type: 'memory'; why: 'register' | 'write'; addr: number; data: Uint8Array }
  | { type: 'fork'; child: number }
  | { type: 'exec'; pid: number; argv: string[] }
  | { type: 'exit'; status: number }
  | { type: 'note'; message: string };

export interface RawLog {
  header: RawHeader;
  /** Complete records seen so far. */
  count: number;
  /** Records reserved but never committed: the writer was killed while filling them. */
  uncommitted: number;
  /** What was wrong with the file, if anything; the records before the damage are kept. */
  damage?: string;
}

class Malformed extends Error {}

const pad8 = (n: number) => (n + 7) & ~7;

/** A view of `len` bytes of the log, without a copy: events keep referring to the file's bytes. */
const view = (buf: Buffer, at: number, len: number) => new Uint8Array(buf.buffer, buf.byteOffset + at, len);

function num(v: bigint): number {
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new Malformed(`value ${v} out of range`);
  return Number(v);
}

function parseRegions(buf: Buffer, at: number, end: number, count: number): RawRegion[] {
  const out: RawRegion[] = [];
  for (let i = 0; i < count; i++) {
    if (at + REGION > end) throw new Malformed('region header past the record');
    const size = buf.readUInt32LE(at);
    const dir = buf.readUInt8(at + 4);
    const flags = buf.readUInt8(at + 5);
    const rolelen = buf.readUInt8(at + 6);
    const problem = buf.readUInt8(at + 7);
    const addr = num(buf.readBigUInt64LE(at + 8));
    const length = buf.readUInt32LE(at + 16);
    const datalen = buf.readUInt32LE(at + 20);
    const vbits = (flags & 2) !== 0;
    const need = REGION + pad8(rolelen) + pad8(length) * (vbits ? 2 : 1);
    if (size < need || at + size > end || datalen > length || dir > 3 || problem >= PROBLEMS.length) {
      throw new Malformed('region does not fit its record');
    }
    const roleAt = at + REGION;
    const dataAt = roleAt + pad8(rolelen);
    const region: RawRegion = {
      role: buf.toString('utf8', roleAt, roleAt + rolelen),
      addr,
      length,
      dir: DIRS[dir],
      data: view(buf, dataAt, datalen),
    };
    if (vbits) {
      const vAt = dataAt + pad8(length);
      if (vAt + datalen > at + size) throw new Malformed('vbits do not fit their region');
      region.vbits = view(buf, vAt, datalen);
    }
    if (problem) region.problem = PROBLEMS[problem];
    out.push(region);
    at += size;
  }
  return out;
}

function parseBody(buf: Buffer, type: number, at: number, end: number): RawBody {
  const need = (n: number) => {
    if (at + n > end) throw new Malformed(`record type ${type} shorter than its fields`);
  };
  const str = (from: number, len: number) => {
    if (from + len > end) throw new Malformed('string past the record');
    return buf.toString('utf8', from, from + len);
  };
  switch (type) {
    case REC_TYPE.open:
      need(16);
      return { type: 'open', fd: buf.readInt32LE(at), flags: buf.readInt32LE(at + 4), errno: buf.readInt32LE(at + 8), path: str(at + 16, buf.readUInt32LE(at + 12)) };
    case REC_TYPE.close:
      need(16);
      return { type: 'close', fd: buf.readInt32LE(at), ret: buf.readInt32LE(at + 4), errno: buf.readInt32LE(at + 8) };
    case REC_TYPE.dup:
      need(8);
      return { type: 'dup', oldfd: buf.readInt32LE(at), newfd: buf.readInt32LE(at + 4) };
    case REC_TYPE.mmap:
      need(40);
      return {
        type: 'mmap', fd: buf.readInt32LE(at), prot: buf.readInt32LE(at + 4), flags: buf.readInt32LE(at + 8),
        addr: num(buf.readBigUInt64LE(at + 16)), length: num(buf.readBigUInt64LE(at + 24)), mapOffset: num(buf.readBigUInt64LE(at + 32)),
      };
    case REC_TYPE.munmap:
      need(16);
      return { type: 'munmap', addr: num(buf.readBigUInt64LE(at)), length: num(buf.readBigUInt64LE(at + 8)) };
    case REC_TYPE.ioctlEnter:
      need(24);
      return {
        type: 'ioctlEnter', fd: buf.readInt32LE(at), request: buf.readUInt32LE(at + 4), arg: buf.readBigUInt64LE(at + 8),
        regions: parseRegions(buf, at + 24, end, buf.readUInt32LE(at + 16)),
      };
    case REC_TYPE.ioctlExit:
      need(24);
      return {
        type: 'ioctlExit', enterOffset: num(buf.readBigUInt64LE(at)), ret: Number(buf.readBigInt64LE(at + 8)),
        errno: buf.readInt32LE(at + 16), regions: parseRegions(buf, at + 24, end, buf.readUInt32LE(at + 20)),
      };
    case REC_TYPE.memory: {
      need(16);
      const why = buf.readUInt32LE(at);
      const length = buf.readUInt32LE(at + 4);
      need(16 + length);
      if (why !== 1 && why !== 2) throw new Malformed(`memory record with reason ${why}`);
      return { type: 'memory', why: why === 1 ? 'register' : 'write', addr: num(buf.readBigUInt64LE(at + 8)), data: view(buf, at + 16, length) };
    }
    case REC_TYPE.fork:
      need(8);
      return { type: 'fork', child: buf.readInt32LE(at) };
    case REC_TYPE.exec: {
      need(16);
      const argc = buf.readUInt32LE(at + 4);
      const text = str(at + 16, buf.readUInt32LE(at + 8));
      const argv = text.split('\0').slice(0, argc);
      if (argv.length !== argc) throw new Malformed('exec record with fewer arguments than it says');
      return { type: 'exec', pid: buf.readUInt32LE(at), argv };
    }
    case REC_TYPE.exit:
      need(8);
      return { type: 'exit', status: buf.readInt32LE(at) };
    case REC_TYPE.note:
      need(8);
      return { type: 'note', message: str(at + 8, buf.readUInt32LE(at)) };
    default:
      throw new Malformed(`unknown record type ${type}`);
  }
}

function parseHeader(buf: Buffer): RawHeader {
  if (buf.length < HEADER || buf.toString('latin1', 0, 8) !== MAGIC) throw new Malformed('not an ioctlgrind raw log');
  if (buf.readUInt32LE(8) !== 1 || buf.readUInt32LE(12) !== HEADER) throw new Malformed('unsupported raw log version');
  return {
    pid: buf.readUInt32LE(16),
    ppid: buf.readUInt32LE(20),
    abi: buf.readUInt32LE(24) === 1 ? 'ilp32' : 'lp64',
    cursor: num(buf.readBigUInt64LE(32)),
    t0: buf.readBigUInt64LE(40),
    valgrind: (buf.readUInt32LE(48) & 1) !== 0,
    dropped: buf.readUInt32LE(52),
  };
}

/** Opens a raw log: its header, and counters its records() generator fills in as it goes. */
export function openRawLog(buf: Buffer): RawLog {
  return { header: parseHeader(buf), uncommitted: 0, count: 0 };
}

/**
 * The complete records of a raw log, in file order, one at a time so that a big log never exists
 * as records all at once. Damage stops the walk and is noted in `log.damage`.
 */
export function* rawRecords(buf: Buffer, log: RawLog): Generator<RawRecord> {
  const end = Math.min(log.header.cursor, buf.length);
  let at = HEADER;
  try {
    while (at + 8 <= end) {
      const len = buf.readUInt32LE(at);
      const type = buf.readUInt16LE(at + 4);
      if (len === 0) {
        // Reserved, but the writer died before it stored the length: nothing after it is reachable.
        throw new Malformed(`record at ${at} has no length`);
      }
      if (len % 8 !== 0 || len < 8 || at + len > buf.length) throw new Malformed(`record at ${at} has a bad length ${len}`);
      if (type === REC_TYPE.pad) {
        at += len;
        continue;
      }
      if (type === 0) {
        log.uncommitted++;
        at += len;
        continue;
      }
      if (len < REC) throw new Malformed(`record at ${at} shorter than its header`);
      const record: RawRecord = {
        offset: at, seq: num(buf.readBigUInt64LE(at + 8)), tid: buf.readUInt32LE(at + 16), time: buf.readBigUInt64LE(at + 24),
        body: parseBody(buf, type, at + REC, at + len),
      };
      log.count++;
      at += len;
      yield record;
    }
    if (log.header.cursor > buf.length) throw new Malformed(`file ends at ${buf.length}, records were reserved up to ${log.header.cursor}`);
  } catch (e) {
    if (!(e instanceof Malformed)) throw e;
    log.damage = e.message;
  }
}

/** Parses a whole raw log into memory (for tools and tests; ingest walks rawRecords). */
export function parseRawLog(buf: Buffer): RawLog & { records: RawRecord[] } {
  const log = openRawLog(buf);
  return Object.assign(log, { records: [...rawRecords(buf, log)] });
}
