// The framing of a trace file: an 8-byte magic, then frames of
//   u32 LE payload length | u32 LE CRC-32 of the payload | msgpack payload.
// The first frame holds the TraceHeader, every later frame one TraceEvent.

import { Packr, Unpackr } from 'msgpackr';
import { crc32 } from 'node:zlib';

export const MAGIC = Buffer.from('IOGTRC01', 'latin1');
export const FRAME_HEADER_BYTES = 8;
/** Larger payloads are taken as corruption; recorders split guest memory into smaller writes. */
export const MAX_PAYLOAD_BYTES = 256 * 1024 * 1024;

/**
 * The codec the writer packs with (the reader unpacks with its twin below). Records are off so
 * frames stand alone; int64 values decode as bigint (bigints always pack as int64, numbers as int32
 * or float64, so each keeps its type); binaries are copied out, so a value never aliases its source.
 */
export const codec = new Packr({ useRecords: false, copyBuffers: true, int64AsType: 'bigint' });

/**
 * The reader's unpacker: the codec's options without copyBuffers, so byte arrays are views of the
 * payload. The reader unpacks only copies of payloads that nothing overwrites.
 */
export const frameUnpacker = new Unpackr({ useRecords: false, int64AsType: 'bigint' });

/**
 * A user-facing trace problem. The message is one line naming the file, what is wrong and the byte
 * offset, like `trace.bin: corrupt frame at byte 1234: CRC mismatch`.
 */
export class TraceError extends Error {
  constructor(
    readonly file: string,
    /** Null where the problem has no place in the file (it cannot be opened). */
    readonly offset: number | null,
    what: string,
    detail: string,
  ) {
    super(`${file}: ${what}${offset === null ? '' : ` at byte ${offset}`}: ${detail}`);
    this.name = 'TraceError';
  }
}

/**
 * Completes the frame at `target[at]` whose payload is already in place after its header: writes the
 * length and the CRC, the CRC over a view of the payload so nothing is copied. Returns the frame's length.
 */
export function sealFrame(target: Buffer, at: number, length: number): number {
  checkPayloadLength(length);
  target.writeUInt32LE(length, at);
  const payload = new Uint8Array(target.buffer, target.byteOffset + at + FRAME_HEADER_BYTES, length);
  target.writeUInt32LE(crc32(payload), at + 4);
  return FRAME_HEADER_BYTES + length;
}

/** Writes `payload` as one frame at `target[at]`; returns the frame's length. */
export function putFrame(target: Buffer, at: number, payload: Uint8Array): number {
  checkPayloadLength(payload.length);
  target.set(payload, at + FRAME_HEADER_BYTES);
  return sealFrame(target, at, payload.length);
}

function checkPayloadLength(length: number): void {
  if (length > MAX_PAYLOAD_BYTES) {
    throw new RangeError(`a trace frame holds at most ${MAX_PAYLOAD_BYTES} bytes, not ${length}`);
  }
}

/** Encodes `value` as one whole frame in a buffer of its own. */
export function encodeFrame(value: unknown): Buffer {
  const payload = codec.pack(value);
  const frame = Buffer.allocUnsafe(FRAME_HEADER_BYTES + payload.length);
  putFrame(frame, 0, payload);
  return frame;
}
