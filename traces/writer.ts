// Writes a trace file. Synchronous, so the in-process interposer can log from inside an ioctl call.
// Frames are gathered in memory and written whole with writeSync: a crash loses only what was not
// yet flushed, and the file always ends at a frame boundary or inside the one frame being written.

import fs from 'node:fs';
import { RESERVE_START_SPACE, REUSE_BUFFER_MODE } from 'msgpackr';
import type { TraceEvent, TraceHeader } from './events.js';
import { packEvent } from './event-pack.js';
import { codec, FRAME_HEADER_BYTES, MAGIC, putFrame, sealFrame } from './frame.js';
import { openTraceFile } from './trace-file.js';

export interface TraceWriterOptions {
  /** Flush after this many buffered events (1 writes every event at once). */
  flushEvents?: number;
  /** Flush once this many bytes are buffered. */
  flushBytes?: number;
}

const DEFAULT_FLUSH_EVENTS = 256;
const DEFAULT_FLUSH_BYTES = 256 * 1024;

export class TraceWriter {
  private buffer: Buffer;
  private used = 0;
  private buffered = 0;
  private fd: number | null;
  private readonly flushEvents: number;
  private readonly flushBytes: number;
  /** Flushes what is buffered when the process exits without closing the writer. */
  private readonly onExit = () => this.flush();

  private constructor(
    readonly path: string,
    fd: number,
    options: TraceWriterOptions,
  ) {
    this.fd = fd;
    this.flushEvents = Math.max(1, options.flushEvents ?? DEFAULT_FLUSH_EVENTS);
    this.flushBytes = Math.max(1, options.flushBytes ?? DEFAULT_FLUSH_BYTES);
    this.buffer = Buffer.allocUnsafe(this.flushBytes + 64 * 1024);
    process.on('exit', this.onExit);
  }

  /** Creates `path` anew (see openTraceFile) and writes the magic and the header frame. */
  static create(path: string, header: TraceHeader, options: TraceWriterOptions = {}): TraceWriter {
    const fd = openTraceFile(path);
    try {
      return TraceWriter.onFd(path, fd, header, options);
    } catch (error) {
      fs.closeSync(fd);
      throw error;
    }
  }

  /**
   * Writes a trace to `fd`, which openTraceFile opened for `path` (record claims its output before
   * the target starts, and a FIFO can be opened only once). The writer owns `fd` once this returns.
   */
  static onFd(path: string, fd: number, header: TraceHeader, options: TraceWriterOptions = {}): TraceWriter {
    fs.writeSync(fd, MAGIC);
    const writer = new TraceWriter(path, fd, options);
    writer.append(header);
    writer.flush();
    return writer;
  }

  write(event: TraceEvent): void {
    this.append(event);
    if (++this.buffered >= this.flushEvents || this.used >= this.flushBytes) this.flush();
  }

  /** Writes every buffered frame to the file. */
  flush(): void {
    if (this.fd === null || this.used === 0) return;
    let done = 0;
    while (done < this.used) done += fs.writeSync(this.fd, this.buffer, done, this.used - done);
    this.used = 0;
    this.buffered = 0;
  }

  close(): void {
    if (this.fd === null) return;
    this.flush();
    fs.closeSync(this.fd);
    this.fd = null;
    process.off('exit', this.onExit);
  }

  /**
   * Packs `value` straight into the buffer after its frame header (no copy of the payload, and no
   * buffers of msgpackr's own), then fills in the header. Frames already in the buffer stay below
   * `at`, where the pack never writes. event-pack.ts packs what it knows; msgpackr the rest, and
   * whatever does not fit in what is left of the buffer.
   */
  private append(value: TraceHeader | TraceEvent): void {
    if (this.fd === null) throw new Error(`${this.path}: trace writer is closed`);
    const at = this.used;
    const end = packEvent(value, this.buffer, at + FRAME_HEADER_BYTES, this.buffer.length);
    if (end >= 0) {
      this.used += sealFrame(this.buffer, at, end - at - FRAME_HEADER_BYTES);
      return;
    }
    // msgpackr starts a pack at the next multiple of 8 from its position: reserve the bytes from
    // there up to where the payload goes (1 to 8), so the payload follows the header exactly.
    const reserve = at + FRAME_HEADER_BYTES - ((at + 7) & ~7);
    // msgpackr's target buffer and position are shared by every Packr, so set both at each pack.
    codec.useBuffer(this.buffer);
    codec.position = at;
    let packed: Buffer & { start: number; end: number };
    try {
      // REUSE_BUFFER_MODE returns the target itself (no view made) with the payload's start and end.
      packed = codec.pack(value, REUSE_BUFFER_MODE | RESERVE_START_SPACE | reserve) as typeof packed;
    } finally {
      // Leave no room in this buffer, so a later pack elsewhere starts a buffer of msgpackr's own
      // rather than writing where this writer's next frame goes.
      codec.position = this.buffer.length;
    }
    if (packed === this.buffer) {
      this.used += sealFrame(this.buffer, at, packed.end - at - FRAME_HEADER_BYTES);
      return;
    }
    // The value did not fit in what was left, and msgpackr finished it in a larger buffer of its
    // own: flush, then copy the frame in (into a buffer of its size if it is larger than ours).
    const payload = packed.subarray(packed.start + reserve, packed.end);
    this.flush();
    if (FRAME_HEADER_BYTES + payload.length > this.buffer.length) {
      this.buffer = Buffer.allocUnsafe(FRAME_HEADER_BYTES + payload.length);
    }
    this.used += putFrame(this.buffer, this.used, payload);
  }
}
