// Struct fields in the kernel pages a vCPU shares with the process (kvm_run; HAXM's hax_tunnel and
// I/O buffer), by field path through the measured layouts, each access logged where the process
// sees it. Whole scalars are read and written in place, as every exit touches a dozen of them.

import { fieldLocation, typeCodec, type Decoded, type FieldLocation, type TypeCodec } from '../../schemas/codec.js';
import type { Structs } from './call.js';
import type { SharedPages } from './objects.js';

/** A field's place in its struct, with the codec of its type. */
interface PageField extends FieldLocation {
  codec: TypeCodec;
}

/** The fields of one struct, by path. */
export class PageFields {
  private readonly fields = new Map<string, PageField>();

  constructor(
    readonly structs: Structs,
    readonly struct: string,
  ) {}

  field(path: string): PageField {
    let f = this.fields.get(path);
    if (!f) {
      const at = fieldLocation(this.structs.set, this.structs.abi, this.struct, path);
      if (!at) throw new Error(`no field ${path} in ${this.struct}`);
      this.fields.set(path, (f = { ...at, codec: typeCodec(this.structs.set, this.structs.abi, at.type) }));
    }
    return f;
  }

  /** The field of the struct at `base` in the pages. */
  get(page: SharedPages, base: number, path: string): Decoded {
    const f = this.field(path);
    if (f.type.kind !== 'scalar') return this.structs.decodeAs(f.type, page.read(base + f.offset, f.size));
    page.touched(base + f.offset, f.size, false);
    return f.codec.decode(page.bytes, page.view, base + f.offset, undefined);
  }

  /** Writes the field (fields not given as zero); `length` limits a byte array to what the driver copies. */
  put(page: SharedPages, base: number, path: string, value: Decoded, length?: number): void {
    const f = this.field(path);
    if (f.type.kind !== 'scalar' || value === undefined || (length !== undefined && length < f.size)) {
      page.write(base + f.offset, this.structs.encode(f.type, value, f.size).subarray(0, length ?? f.size));
      return;
    }
    f.codec.encode(value, page.bytes, page.view, base + f.offset);
    page.touched(base + f.offset, f.size, true);
  }
}
