// Reads a trace file in constant memory: chunks come in with readSync and each frame is decoded and
// checked as it is reached. A file cut short (a recorder killed mid-write) keeps every whole frame
// and says where it was cut; anything else wrong is a TraceError naming the file and the offset.

import fs from 'node:fs';
import type { TraceEvent, TraceHeader } from './events.js';
import { FRAME_HEADER_BYTES, frameUnpacker, MAGIC, MAX_PAYLOAD_BYTES, TraceError } from './frame.js';
import { crc32 } from 'node:zlib';
import { InvalidFrame, validateEvent, validateHeader } from './validate.js';

/** Where a trace was cut short, and what was cut. */
export interface Truncation {
  offset: number;
  message: string;
}

/** One line saying where a trace was cut: `trace.bin: truncated at byte 1234: frame of 80 bytes cut after 12`. */
export function truncationMessage(path: string, truncated: Truncation): string {
  return `${path}: truncated at byte ${truncated.offset}: ${truncated.message}`;
}

const CHUNK_BYTES = 1024 * 1024;
/**
 * Payloads are unpacked from copies in blocks of this size, written once: an event's byte arrays are
 * views into its block (one copy a frame, not one a byte array). A kept event keeps its block.
 */
const BLOCK_BYTES = 64 * 1024;

export class TraceReader implements Iterable<TraceEvent> {
  readonly header: TraceHeader;
  /** Byte offset in the file of the frame that held the event last yielded. */
  offset = 0;
  /** Set once iteration reached a cut in the file; the events before it were all yielded. */
  truncated: Truncation | null = null;

  private fd: number | null;
  private buffer = Buffer.allocUnsafe(CHUNK_BYTES);
  /** File offset of buffer[0]. */
  private base = 0;
  /** Next unread byte, and end of valid bytes, in buffer. */
  private start = 0;
  private end = 0;
  private eof = false;
  private block = new Uint8Array(0);
  private blockUsed = 0;
  private iterated = false;

  private constructor(
    readonly path: string,
    fd: number,
  ) {
    this.fd = fd;
    this.header = this.readHeader();
  }

  /** Opens `path` and reads its header. Throws TraceError where there is no whole, valid header. */
  static open(path: string): TraceReader {
    let fd: number;
    try {
      fd = fs.openSync(path, 'r');
    } catch (error) {
      // Node's message repeats the path ("ENOENT: no such file or directory, open 'x'"): keep the reason.
      const reason = /^\w+: ([^,]+)/.exec((error as Error).message)?.[1] ?? (error as Error).message;
      throw new TraceError(path, null, 'cannot open', reason);
    }
    try {
      return new TraceReader(path, fd);
    } catch (error) {
      fs.closeSync(fd);
      throw error;
    }
  }

  /** The events, in file order. A reader can be iterated once. */
  *[Symbol.iterator](): Iterator<TraceEvent> {
    if (this.iterated) throw new Error(`${this.path}: a trace reader can be iterated only once`);
    this.iterated = true;
    try {
      for (;;) {
        const at = this.position;
        const payload = this.nextPayload();
        if (payload === null) return;
        this.offset = at;
        yield this.check(at, 'invalid event', validateEvent, this.decode(at, payload));
      }
    } finally {
      this.close();
    }
  }

  close(): void {
    if (this.fd === null) return;
    fs.closeSync(this.fd);
    this.fd = null;
  }

  private get position(): number {
    return this.base + this.start;
  }

  private readHeader(): TraceHeader {
    const got = this.fill(MAGIC.length) ? MAGIC.length : this.end - this.start;
    const magic = this.buffer.subarray(this.start, this.start + got);
    if (!magic.equals(MAGIC.subarray(0, got))) {
      throw new TraceError(this.path, 0, 'bad magic', 'not an ioctlgrind trace');
    }
    if (got < MAGIC.length) throw new TraceError(this.path, got, 'truncated', 'the file ends inside the magic');
    this.start += MAGIC.length;
    const at = this.position;
    const payload = this.nextPayload();
    if (payload === null) {
      throw new TraceError(this.path, at, 'truncated', this.truncated?.message ?? 'the file has no header frame');
    }
    return this.check(at, 'invalid header', validateHeader, this.decode(at, payload));
  }

  /**
   * The payload of the next frame (valid until the next call), or null at the end of the file;
   * at a cut, also records the truncation.
   */
  private nextPayload(): Uint8Array | null {
    const at = this.position;
    if (!this.fill(FRAME_HEADER_BYTES)) {
      const got = this.end - this.start;
      if (got > 0) this.cut(at, `frame header cut after ${got} of ${FRAME_HEADER_BYTES} bytes`);
      return null;
    }
    const length = this.buffer.readUInt32LE(this.start);
    const crc = this.buffer.readUInt32LE(this.start + 4);
    if (length > MAX_PAYLOAD_BYTES) {
      throw new TraceError(this.path, at, 'corrupt frame', `length ${length} exceeds ${MAX_PAYLOAD_BYTES}`);
    }
    if (!this.fill(FRAME_HEADER_BYTES + length)) {
      const got = this.end - this.start - FRAME_HEADER_BYTES;
      this.cut(at, `frame of ${length} bytes cut after ${got}`);
      return null;
    }
    // A plain Uint8Array view: cheaper to make than a Buffer, and byte arrays unpack from it as plain Uint8Arrays.
    const payload = new Uint8Array(this.buffer.buffer, this.buffer.byteOffset + this.start + FRAME_HEADER_BYTES, length);
    this.start += FRAME_HEADER_BYTES + length;
    if (crc32(payload) !== crc) throw new TraceError(this.path, at, 'corrupt frame', 'CRC mismatch');
    return payload;
  }

  private decode(at: number, payload: Uint8Array): unknown {
    try {
      return frameUnpacker.unpack(this.keep(payload));
    } catch (error) {
      throw new TraceError(this.path, at, 'corrupt frame', `payload is not valid msgpack (${(error as Error).message})`);
    }
  }

  /** A copy of `payload` in a block that is never written again. */
  private keep(payload: Uint8Array): Uint8Array {
    if (this.blockUsed + payload.length > this.block.length) {
      this.block = new Uint8Array(Math.max(BLOCK_BYTES, payload.length));
      this.blockUsed = 0;
    }
    const kept = new Uint8Array(this.block.buffer, this.blockUsed, payload.length);
    kept.set(payload);
    this.blockUsed += payload.length;
    return kept;
  }

  /** Runs a validation, turning its complaint into a TraceError at `at`. */
  private check<T>(at: number, what: string, validate: (value: unknown) => T, value: unknown): T {
    try {
      return validate(value);
    } catch (error) {
      if (error instanceof InvalidFrame) throw new TraceError(this.path, at, what, error.message);
      throw error;
    }
  }

  private cut(at: number, message: string): void {
    this.truncated = { offset: at, message };
  }

  /** Makes `count` bytes available from `start`; false when the file ends first. */
  private fill(count: number): boolean {
    while (this.end - this.start < count) {
      if (this.eof || this.fd === null) return false;
      if (this.start > 0) {
        // Move the unread tail to the front before reading more.
        this.buffer.copy(this.buffer, 0, this.start, this.end);
        this.base += this.start;
        this.end -= this.start;
        this.start = 0;
      }
      if (count > this.buffer.length) {
        const larger = Buffer.allocUnsafe(Math.max(count, this.buffer.length * 2));
        this.buffer.copy(larger, 0, 0, this.end);
        this.buffer = larger;
      }
      const got = fs.readSync(this.fd, this.buffer, this.end, this.buffer.length - this.end, null);
      if (got === 0) this.eof = true;
      this.end += got;
    }
    return true;
  }
}
