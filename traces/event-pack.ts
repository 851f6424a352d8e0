// Packs trace events straight into the writer's buffer, byte for byte as frame.ts's msgpackr codec
// does (test/trace-event-pack.test.ts compares the two). Why not msgpackr itself: a recording writes
// an event per exit, each with some thirty keys and four byte arrays, and msgpackr encodes every key
// character by character and sends every Uint8Array through its extension lookup. That was a third
// of `record`'s ingest time (docs/recorder.md). Here keys are encoded once and copied, and byte
// arrays are copied in directly. A value this packer does not know (another type, a non-ASCII
// string, an object of more than 65,535 keys) makes it give up, and the writer packs with msgpackr.

/** Thrown (never escapes packEvent) when the value is not for this packer or the buffer is full. */
const GIVE_UP: unique symbol = Symbol('give up');

/** Short ASCII strings already encoded, header included: keys and the few values events repeat. */
const encoded = new Map<string, Uint8Array>();
const MAX_ENCODED = 4096;
const CACHED_LENGTH = 32;

let target: Buffer;
let position = 0;
let limit = 0;

function room(bytes: number): void {
  if (position + bytes > limit) throw GIVE_UP;
}

function copy(bytes: Uint8Array): void {
  const n = bytes.length;
  room(n);
  // A loop is cheaper than set() for the few bytes most keys and regions hold.
  if (n < 64) for (let i = 0; i < n; i++) target[position + i] = bytes[i];
  else target.set(bytes, position);
  position += n;
}

/**
 * An unsigned number in msgpack's size classes: `fixed | n` below `fixedBelow`, else a tag and 8
 * (where `tag8` is not 0), 16 or 32 bits. Lengths of strings, arrays and bins, and uint values.
 */
function putSized(n: number, fixed: number, fixedBelow: number, tag8: number, tag16: number, tag32: number): void {
  room(5);
  if (n < fixedBelow) target[position++] = fixed | n;
  else if (tag8 !== 0 && n < 0x100) {
    target[position++] = tag8;
    target[position++] = n;
  } else if (n < 0x10000) {
    target[position++] = tag16;
    target.writeUInt16BE(n, position);
    position += 2;
  } else {
    target[position++] = tag32;
    target.writeUInt32BE(n, position);
    position += 4;
  }
}

function packString(value: string): void {
  const known = encoded.get(value);
  if (known !== undefined) return copy(known);
  const start = position;
  const n = value.length;
  putSized(n, 0xa0, 0x20, 0xd9, 0xda, 0xdb);
  room(n);
  for (let i = 0; i < n; i++) {
    const c = value.charCodeAt(i);
    if (c >= 0x80) throw GIVE_UP; // msgpackr's UTF-8 has cases of its own (lone surrogates)
    target[position++] = c;
  }
  // A copy: the buffer is written over by the next frames.
  if (n < CACHED_LENGTH && encoded.size < MAX_ENCODED) encoded.set(value, Uint8Array.from(target.subarray(start, position)));
}

function packNumber(value: number): void {
  if (value >>> 0 === value) return putSized(value, 0, 0x80, 0xcc, 0xcd, 0xce);
  room(9);
  const t = target;
  if (value >> 0 === value) {
    if (value >= -0x20) t[position++] = 0x100 + value;
    else if (value >= -0x80) {
      t[position++] = 0xd0;
      t[position++] = value + 0x100;
    } else if (value >= -0x8000) {
      t[position++] = 0xd1;
      t.writeInt16BE(value, position);
      position += 2;
    } else {
      t[position++] = 0xd2;
      t.writeInt32BE(value, position);
      position += 4;
    }
  } else {
    t[position++] = 0xcb;
    t.writeDoubleBE(value, position);
    position += 8;
  }
}

function packBigInt(value: bigint): void {
  room(9);
  if (value < 0x8000000000000000n && value >= -0x8000000000000000n) {
    target[position++] = 0xd3;
    target.writeBigInt64BE(value, position);
  } else if (value < 0x10000000000000000n && value > 0n) {
    target[position++] = 0xcf;
    target.writeBigUInt64BE(value, position);
  } else throw GIVE_UP;
  position += 8;
}

function packBytes(value: Uint8Array): void {
  putSized(value.length, 0, 0, 0xc4, 0xc5, 0xc6);
  copy(value);
}

function packArray(value: unknown[]): void {
  const n = value.length;
  putSized(n, 0x90, 0x10, 0, 0xdc, 0xdd);
  for (let i = 0; i < n; i++) pack(value[i]);
}

/** A plain object as msgpackr writes one with records off: always a map 16, keys in for-in order. */
function packObject(value: Record<string, unknown>): void {
  room(3);
  target[position] = 0xde;
  const sizeAt = position + 1;
  position += 3;
  let size = 0;
  for (const key in value) {
    if (!Object.prototype.hasOwnProperty.call(value, key)) continue;
    packString(key);
    pack(value[key]);
    size++;
  }
  if (size > 0xffff) throw GIVE_UP;
  target[sizeAt] = size >> 8;
  target[sizeAt + 1] = size & 0xff;
}

function pack(value: unknown): void {
  switch (typeof value) {
    case 'string':
      return packString(value);
    case 'number':
      return packNumber(value);
    case 'bigint':
      return packBigInt(value);
    case 'boolean':
      room(1);
      target[position++] = value ? 0xc3 : 0xc2;
      return;
    case 'undefined':
      room(3);
      target[position++] = 0xd4;
      target[position++] = 0;
      target[position++] = 0;
      return;
    case 'object': {
      if (value === null) {
        room(1);
        target[position++] = 0xc0;
        return;
      }
      const constructor = value.constructor;
      if (constructor === Object) return packObject(value as Record<string, unknown>);
      if (constructor === Array) return packArray(value as unknown[]);
      if (constructor === Uint8Array || constructor === Buffer) return packBytes(value as Uint8Array);
    }
  }
  throw GIVE_UP;
}

/**
 * Packs `value` into `into` from `at`, writing nothing at or past `end`. Returns where the payload
 * ends, or -1 if it did not fit or is not for this packer; the bytes from `at` are then garbage.
 */
export function packEvent(value: unknown, into: Buffer, at: number, end: number): number {
  target = into;
  position = at;
  limit = end;
  try {
    pack(value);
    return position;
  } catch (error) {
    if (error === GIVE_UP) return -1;
    throw error;
  }
}
