// Reads one raw log the native shim writes (format: recorder/shim/shim.h, docs/recorder.md), while
// the shim is still writing it or after. The bytes are untrusted: every length and offset is
// checked, and a truncated or corrupt log yields every complete record before the damage plus one
// line saying what was wrong. Record bytes are copied out, because a chunk the reader has finished
// goes back to the writer to be filled again.

import type { Direction } from '../schemas/model.js';

const MAGIC = 'IOGRAW02';
const VERSION = 2;
export const RAW_CHUNK = 4 << 20;
/** Where records start: after the 64-byte header and the chunk index. */
const HEADER = 20480;
const MAX_CHUNKS = 4096;
const FREE_SLOTS = 64;
/** u32 indexes into the header: the chunk index, the free ring's head and tail, its slots. */
const INDEX = 16;
const FREE_HEAD = INDEX + MAX_CHUNKS;
const FREE_TAIL = FREE_HEAD + 1;
const FREE_SLOT = FREE_TAIL + 1;
const REC = 32;
/** Region flags (REG_* in shim.h). */
const REG_VBITS = 2;
const REG_SAME = 4;
const REG_KEPT = 8;
/** Bytes of records copied out of the log at a time. */
const SPAN = 256 << 10;
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
  t0: bigint;
  valgrind: boolean;
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
  /** No bytes of its own: they are those of the kept region at `addr` in the exit record at this offset. */
  sameAs?: number;
  /** A later entry or exit region may name these bytes by `sameAs`. */
  kept?: boolean;
}

export interface RawRecord {
  /** Where the record starts in its log (ioctl exit records name their entry by it). */
  offset: number;
  seq: number;
  tid: number;
  /** CLOCK_MONOTONIC ns, as a double: exact for the first 104 days of uptime, a few ns off after. */
  time: number;
  body: RawBody;
}

export type RawBody =
  | { type: 'open'; fd: number; flags: number; errno: number; path: string }
  | { type: 'close'; fd: number; ret: number; errno: number }
  | { type: 'dup'; oldfd: number; newfd: number }
  | { type: 'mmap'; fd: number; prot: number; flags: number; addr: number; length: number; mapOffset: number }
  | { type: 'munmap'; addr: number; length: number }
  | { type: 'ioctlEnter'; fd: number; request: number; arg: number | bigint; regions: RawRegion[] }
  | { type: 'ioctlExit'; enterOffset: number; ret: number; errno: number; regions: RawRegion[] }
  | { type: 'memory'; why: 'register' | 'write'; addr: number; data: Uint8Array }
  | { type: 'fork'; child: number }
  | { type: 'exec'; pid: number; argv: string[] }
  | { type: 'exit'; status: number }
  | { type: 'note'; message: string };

class Malformed extends Error {}

const pad8 = (n: number) => (n + 7) & ~7;

/**
 * A private copy of some whole records, read through a DataView: faster than Buffer's methods,
 * and views of it (region bytes) stay valid after the log's chunk is written again.
 */
class Span {
  readonly dv: DataView;
  readonly length: number;

  constructor(readonly u8: Uint8Array) {
    this.dv = new DataView(u8.buffer, u8.byteOffset, u8.length);
    this.length = u8.length;
  }

  u8at(at: number): number {
    return this.dv.getUint8(at);
  }

  u16(at: number): number {
    return this.dv.getUint16(at, true);
  }

  u32(at: number): number {
    return this.dv.getUint32(at, true);
  }

  i32(at: number): number {
    return this.dv.getInt32(at, true);
  }

  /** A u64 field as a number (addresses, lengths, sequence numbers), without making a bigint. */
  u64(at: number): number {
    const high = this.u32(at + 4);
    if (high >= 0x200000) throw new Malformed(`value ${this.dv.getBigUint64(at, true)} out of range`);
    return high * 0x100000000 + this.u32(at);
  }

  /** An ioctl's argument: a number where it is exact, else a bigint (a pointer high in the address space, a value). */
  argument(at: number): number | bigint {
    const high = this.u32(at + 4);
    return high < 0x200000 ? high * 0x100000000 + this.u32(at) : this.dv.getBigUint64(at, true);
  }

  view(at: number, len: number): Uint8Array {
    return new Uint8Array(this.u8.buffer, this.u8.byteOffset + at, len);
  }

  utf8(at: number, len: number): string {
    return utf8.decode(this.view(at, len));
  }

  /** A role: one of a few strings, decoded once each (ASCII, from the rule table). */
  role(at: number, len: number): string {
    let hash = len;
    for (let i = 0; i < len; i++) hash = (Math.imul(hash, 31) + this.u8[at + i]) | 0;
    const known = roles.get(hash);
    if (known !== undefined && known.length === len && this.matches(known, at)) return known;
    const role = String.fromCharCode(...this.view(at, len));
    roles.set(hash, role);
    return role;
  }

  private matches(text: string, at: number): boolean {
    for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) !== this.u8[at + i]) return false;
    return true;
  }
}

const utf8 = new TextDecoder();
const roles = new Map<number, string>();

function parseRegions(span: Span, at: number, end: number, count: number): RawRegion[] {
  const out: RawRegion[] = [];
  for (let i = 0; i < count; i++) {
    if (at + REGION > end) throw new Malformed('region header past the record');
    const size = span.u32(at);
    const dir = span.u8at(at + 4);
    const flags = span.u8at(at + 5);
    const rolelen = span.u8at(at + 6);
    const problem = span.u8at(at + 7);
    const addr = span.u64(at + 8);
    const length = span.u32(at + 16);
    const datalen = span.u32(at + 20);
    const vbits = (flags & REG_VBITS) !== 0;
    const same = (flags & REG_SAME) !== 0;
    const need = REGION + pad8(rolelen) + (same ? 8 : pad8(length) * (vbits ? 2 : 1));
    if (size < need || at + size > end || datalen > length || dir > 3 || problem >= PROBLEMS.length || (same && (vbits || datalen > 0))) {
      throw new Malformed('region does not fit its record');
    }
    const roleAt = at + REGION;
    const dataAt = roleAt + pad8(rolelen);
    const vAt = dataAt + pad8(length);
    if (vbits && vAt + datalen > at + size) throw new Malformed('vbits do not fit their region');
    // Every field set, in one order: one object shape for all regions keeps ingest's loops fast.
    const region: RawRegion = {
      role: span.role(roleAt, rolelen),
      addr,
      length,
      dir: DIRS[dir],
      data: span.view(dataAt, datalen),
      vbits: vbits ? span.view(vAt, datalen) : undefined,
      problem: problem ? PROBLEMS[problem] : undefined,
      sameAs: same ? span.u64(dataAt) : undefined,
      kept: (flags & REG_KEPT) !== 0,
    };
    out.push(region);
    at += size;
  }
  return out;
}

function parseBody(span: Span, type: number, at: number, end: number): RawBody {
  const need = (n: number) => {
    if (at + n > end) throw new Malformed(`record type ${type} shorter than its fields`);
  };
  const str = (from: number, len: number) => {
    if (from + len > end) throw new Malformed('string past the record');
    return span.utf8(from, len);
  };
  switch (type) {
    case REC_TYPE.open:
      need(16);
      return { type: 'open', fd: span.i32(at), flags: span.i32(at + 4), errno: span.i32(at + 8), path: str(at + 16, span.u32(at + 12)) };
    case REC_TYPE.close:
      need(16);
      return { type: 'close', fd: span.i32(at), ret: span.i32(at + 4), errno: span.i32(at + 8) };
    case REC_TYPE.dup:
      need(8);
      return { type: 'dup', oldfd: span.i32(at), newfd: span.i32(at + 4) };
    case REC_TYPE.mmap:
      need(40);
      return {
        type: 'mmap', fd: span.i32(at), prot: span.i32(at + 4), flags: span.i32(at + 8),
        addr: span.u64(at + 16), length: span.u64(at + 24), mapOffset: span.u64(at + 32),
      };
    case REC_TYPE.munmap:
      need(16);
      return { type: 'munmap', addr: span.u64(at), length: span.u64(at + 8) };
    case REC_TYPE.ioctlEnter:
      need(24);
      return {
        type: 'ioctlEnter', fd: span.i32(at), request: span.u32(at + 4), arg: span.argument(at + 8),
        regions: parseRegions(span, at + 24, end, span.u32(at + 16)),
      };
    case REC_TYPE.ioctlExit:
      need(24);
      return {
        type: 'ioctlExit', enterOffset: span.u64(at), ret: span.i32(at + 12) * 0x100000000 + span.u32(at + 8),
        errno: span.i32(at + 16), regions: parseRegions(span, at + 24, end, span.u32(at + 20)),
      };
    case REC_TYPE.memory: {
      need(16);
      const why = span.u32(at);
      const length = span.u32(at + 4);
      need(16 + length);
      if (why !== 1 && why !== 2) throw new Malformed(`memory record with reason ${why}`);
      return { type: 'memory', why: why === 1 ? 'register' : 'write', addr: span.u64(at + 8), data: span.view(at + 16, length) };
    }
    case REC_TYPE.fork:
      need(8);
      return { type: 'fork', child: span.i32(at) };
    case REC_TYPE.exec: {
      need(16);
      const argc = span.u32(at + 4);
      const text = str(at + 16, span.u32(at + 8));
      const argv = text.split('\0').slice(0, argc);
      if (argv.length !== argc) throw new Malformed('exec record with fewer arguments than it says');
      return { type: 'exec', pid: span.u32(at), argv };
    }
    case REC_TYPE.exit:
      need(8);
      return { type: 'exit', status: span.i32(at) };
    case REC_TYPE.note:
      need(8);
      return { type: 'note', message: str(at + 8, span.u32(at)) };
    default:
      throw new Malformed(`unknown record type ${type}`);
  }
}

function parseHeader(buf: Buffer): RawHeader {
  if (buf.length < HEADER || buf.toString('latin1', 0, 8) !== MAGIC) throw new Malformed('not an ioctlgrind raw log');
  if (buf.readUInt32LE(8) !== VERSION || buf.readUInt32LE(12) !== HEADER || buf.readUInt32LE(28) !== RAW_CHUNK) throw new Malformed('unsupported raw log version');
  return {
    pid: buf.readUInt32LE(16),
    ppid: buf.readUInt32LE(20),
    abi: buf.readUInt32LE(24) === 1 ? 'ilp32' : 'lp64',
    t0: buf.readBigUInt64LE(40),
    valgrind: (buf.readUInt32LE(48) & 1) !== 0,
  };
}

/** Where a log's physical chunks come from: a live mapping of the file, or the file read whole. */
export interface ChunkSource {
  /** Physical chunk `p`: RAW_CHUNK bytes, fewer where the file ends inside it. */
  chunk(p: number): Buffer;
  /** Gives an emptied chunk (already zeroed) back to the writer; only live logs do. */
  recycles: boolean;
}

/** A raw log read from a buffer holding the whole file (after the fact, and in tests). */
export function wholeFile(buf: Buffer): ChunkSource {
  // Atomics need aligned typed arrays; a pooled small Buffer may not be.
  const whole = buf.byteOffset % 8 === 0 ? buf : Buffer.from(buf);
  return { chunk: (p) => whole.subarray(p * RAW_CHUNK, (p + 1) * RAW_CHUNK), recycles: false };
}

/**
 * One process's raw log. `records()` yields the records committed since its last call, so a log
 * can be followed while the shim writes it; `final` says the writer is gone, so a record that is
 * still uncommitted never will be.
 */
export class RawLog {
  readonly header: RawHeader;
  /** Complete records seen so far. */
  count = 0;
  /** Records reserved but never committed: the writer was killed while filling them. */
  uncommitted = 0;
  /** What was wrong with the file, if anything; the records before the damage are kept. */
  damage?: string;
  private readonly index: Uint32Array;
  /** u32 views of the chunks, for atomic loads of record headers. */
  private readonly words = new Map<number, Uint32Array>();
  /** The logical offset of the next record to read. */
  private at = HEADER;

  /** Throws when the file is not a raw log this version writes. */
  constructor(private readonly source: ChunkSource) {
    const first = source.chunk(0);
    try {
      this.header = parseHeader(first);
    } catch (e) {
      if (e instanceof Malformed) throw new Error(e.message);
      throw e;
    }
    this.index = new Uint32Array(first.buffer, first.byteOffset, HEADER / 4);
  }

  /** Records the shim dropped because the log could not grow. */
  get dropped(): number {
    return Atomics.load(this.index, 13);
  }

  /** Bytes of records the shim has reserved. */
  get recordBytes(): number {
    return this.cursor() - HEADER;
  }

  /** Bytes of file the log has taken: chunks are reused once read, so this stays small while ingest keeps up. */
  get fileBytes(): number {
    return Atomics.load(this.index, 14) * RAW_CHUNK;
  }

  *records(final: boolean): Generator<RawRecord> {
    if (this.damage) return;
    try {
      const cursor = this.cursor();
      while (this.at < cursor) {
        const logical = Math.floor(this.at / RAW_CHUNK);
        const slot = logical % MAX_CHUNKS;
        const entry = Atomics.load(this.index, INDEX + slot);
        // The slot is this chunk's when its lap matches (RAW_LAP and RAW_SLOT in shim.h).
        if (entry >>> 16 !== (Math.floor(logical / MAX_CHUNKS) % 0xffff) + 1) {
          // No chunk yet: the writer is about to map it, or (final) could not, and counted the drop.
          if (!final) return;
          this.at = (logical + 1) * RAW_CHUNK;
          continue;
        }
        const physical = (entry & 0xffff) - 1;
        if (physical < 0 || physical >= MAX_CHUNKS) throw new Malformed(`chunk index slot ${slot} names chunk ${physical}`);
        const span = this.committed(physical, this.at % RAW_CHUNK, Math.min(RAW_CHUNK, cursor - logical * RAW_CHUNK), final);
        const base = this.at;
        const bytes = span.bytes;
        for (let at = 0; at < bytes.length; ) {
          const len = bytes.u32(at);
          const type = bytes.u16(at + 4);
          this.at = base + at + len;
          if (type === 0) this.uncommitted++;
          else if (type !== REC_TYPE.pad) {
            if (len < REC) throw new Malformed(`record at ${base + at} shorter than its header`);
            const record: RawRecord = {
              offset: base + at, seq: bytes.u64(at + 8), tid: bytes.u32(at + 16), time: bytes.u32(at + 28) * 0x100000000 + bytes.u32(at + 24),
              body: parseBody(bytes, type, at + REC, at + len),
            };
            this.count++;
            yield record;
          }
          at += len;
        }
        if (span.damage) throw new Malformed(span.damage);
        if (span.waiting) return;
        if (this.at % RAW_CHUNK === 0) this.recycle(slot, physical, final);
      }
    } catch (e) {
      if (!(e instanceof Malformed)) throw e;
      this.damage = e.message;
    }
  }

  /**
   * The records of physical chunk `p` from `from` that are whole: committed (or, `final`, never
   * going to be), copied out in one piece after their commits were seen, so the copy holds what the
   * writer stored before committing; at most SPAN bytes unless one record is longer. `waiting`:
   * the next record is not committed yet; `damage`: what stopped the walk, after the records before it.
   */
  private committed(p: number, from: number, limit: number, final: boolean): { bytes: Span; waiting: boolean; damage?: string } {
    const buf = this.source.chunk(p);
    let words = this.words.get(p);
    if (!words || words.length * 4 !== (buf.length & ~3)) this.words.set(p, (words = new Uint32Array(buf.buffer, buf.byteOffset, buf.length >> 2)));
    let end = from;
    let damage: string | undefined;
    let waiting = false;
    const where = (at: number) => (at - from) + this.at;
    while (end < limit && end - from < SPAN) {
      if (end + 8 > buf.length) {
        damage = `file ends at ${p * RAW_CHUNK + buf.length}, inside chunk ${p}; records were reserved further`;
        break;
      }
      const len = Atomics.load(words, end >> 2);
      const type = Atomics.load(words, (end >> 2) + 1) & 0xffff;
      if (len === 0) {
        // Reserved a moment ago, its length comes next; or (final) the writer died before storing
        // it, and nothing after it in this chunk is reachable.
        if (final) damage = `record at ${where(end)} has no length`;
        waiting = true;
        break;
      }
      if (len % 8 !== 0 || len < 8 || end + len > RAW_CHUNK) {
        damage = `record at ${where(end)} has a bad length ${len}`;
        break;
      }
      if (end + len > buf.length) {
        damage = `file ends at ${p * RAW_CHUNK + buf.length}, inside the record at ${where(end)}`;
        break;
      }
      if (type === 0 && !final) {
        waiting = true; // still being written
        break;
      }
      end += len;
    }
    return { bytes: new Span(new Uint8Array(buf.buffer, buf.byteOffset + from, end - from).slice()), waiting, ...(damage ? { damage } : {}) };
  }

  /** The header's cursor: the end of the records reserved so far (read twice over if the shim moved it meanwhile). */
  private cursor(): number {
    for (;;) {
      const high = Atomics.load(this.index, 9);
      const low = Atomics.load(this.index, 8);
      if (Atomics.load(this.index, 9) !== high) continue;
      return Math.min(high * 0x100000000 + low, Number.MAX_SAFE_INTEGER); // records() rejects a cursor that large
    }
  }

  /** A chunk read to its end goes back to the writer while it still runs. */
  private recycle(slot: number, physical: number, final: boolean): void {
    if (final || !this.source.recycles) return;
    Atomics.store(this.index, INDEX + slot, 0); // the slot is free for the chunk a lap later
    if (physical === 0) return; // the header's chunk stays
    this.words.delete(physical);
    this.source.chunk(physical).fill(0);
    const head = Atomics.load(this.index, FREE_HEAD);
    const tail = this.index[FREE_TAIL];
    if (tail - head >= FREE_SLOTS) return; // the writer is not taking them: it just grows the file
    Atomics.store(this.index, FREE_SLOT + (tail % FREE_SLOTS), physical);
    Atomics.store(this.index, FREE_TAIL, (tail + 1) >>> 0);
  }
}

/** Parses a whole raw log file into memory (for tools and tests; ingest follows logs as they grow). */
export function parseRawLog(buf: Buffer): RawLog & { records: RawRecord[] } {
  const log = new RawLog(wholeFile(buf));
  return Object.assign(log, { records: [...log.records(true)] });
}
