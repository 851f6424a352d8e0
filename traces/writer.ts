// Writes a trace file. Synchronous, so the in-process interposer can log from inside an ioctl call.
// Frames are gathered in memory and written whole with writeSync: a crash loses only what was not
// yet flushed, and the file always ends at a frame boundary or inside the one frame being written.

import fs from 'node:fs';
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
   * Packs `value` with event-pack.ts straight into the buffer after its frame header, then fills in
   * the header; frames already in the buffer stay below, where the pack never writes. What does not
   * fit in what is left is packed again after a flush. msgpackr packs what event-pack.ts does not
   * take (the same bytes) and what is larger than the whole buffer, which then grows to hold it.
   */
  private append(value: TraceHeader | TraceEvent): void {
    if (this.fd === null) throw new Error(`${this.path}: trace writer is closed`);
    let end = packEvent(value, this.buffer, this.used + FRAME_HEADER_BYTES, this.buffer.length);
    if (end < 0 && this.used > 0) {
      this.flush();
      end = packEvent(value, this.buffer, FRAME_HEADER_BYTES, this.buffer.length);
    }
    if (end >= 0) {
      this.used += sealFrame(this.buffer, this.used, end - this.used - FRAME_HEADER_BYTES);
      return;
    }
    const payload = codec.pack(value); // a view of msgpackr's own buffer, copied by putFrame
    if (FRAME_HEADER_BYTES + payload.length > this.buffer.length) {
      this.buffer = Buffer.allocUnsafe(FRAME_HEADER_BYTES + payload.length);
    }
    this.used += putFrame(this.buffer, this.used, payload);
  }
}
