// Reads the DWARF the C compiler emitted (through `readelf --debug-dump=info`) into layouts and
// enumerator values. The compiler is the authority on sizes and offsets; this only transcribes.

import type { Field, Layout, ScalarKind, TypeRef } from '../model.js';

interface Die {
  offset: number;
  tag: string;
  depth: number;
  attrs: Map<string, string>;
  children: Die[];
}

const DIE_LINE = /^\s*<(\d+)><([0-9a-f]+)>: Abbrev Number: (\d+)(?: \((DW_TAG_\w+)\))?/;
const ATTR_LINE = /^\s*<[0-9a-f]+>\s+(DW_AT_\w+)\s*:\s*(.*)$/;

/** Parses readelf's DIE listing into a tree indexed by DIE offset. */
export function parseDies(text: string): Map<number, Die> {
  const byOffset = new Map<number, Die>();
  const stack: Die[] = [];
  let current: Die | undefined;
  for (const line of text.split('\n')) {
    const die = DIE_LINE.exec(line);
    if (die) {
      const depth = Number(die[1]);
      const tag = die[4];
      current = undefined;
      if (!tag) continue; // an abbrev-0 terminator closes a sibling list
      const node: Die = { offset: parseInt(die[2], 16), tag, depth, attrs: new Map(), children: [] };
      while (stack.length > 0 && stack[stack.length - 1].depth >= depth) stack.pop();
      if (stack.length > 0) stack[stack.length - 1].children.push(node);
      stack.push(node);
      byOffset.set(node.offset, node);
      current = node;
      continue;
    }
    const attr = ATTR_LINE.exec(line);
    if (attr && current) current.attrs.set(attr[1], attr[2].trim());
  }
  return byOffset;
}

function attrName(die: Die): string | undefined {
  const raw = die.attrs.get('DW_AT_name');
  if (raw === undefined) return undefined;
  const indirect = /\(indirect[^)]*\):\s*(.*)$/.exec(raw);
  return (indirect ? indirect[1] : raw).trim();
}

function attrRef(die: Die, name: string): number | undefined {
  const raw = die.attrs.get(name);
  const m = raw && /<0x([0-9a-f]+)>/.exec(raw);
  return m ? parseInt(m[1], 16) : undefined;
}

function attrNum(die: Die, name: string): number | undefined {
  const raw = die.attrs.get(name);
  if (raw === undefined) return undefined;
  const m = /^(-?0x[0-9a-f]+|-?\d+)/i.exec(raw);
  return m ? Number(m[1]) : undefined;
}

/** Enumerator constants by name, as the compiler folded them. */
export function enumerators(dies: Map<number, Die>): Map<string, number> {
  const out = new Map<string, number>();
  for (const die of dies.values()) {
    if (die.tag !== 'DW_TAG_enumerator') continue;
    const name = attrName(die);
    const raw = die.attrs.get('DW_AT_const_value');
    if (!name || raw === undefined) continue;
    const m = /^(-?0x[0-9a-f]+|-?\d+)/i.exec(raw);
    if (m) out.set(name, Number(m[1]));
  }
  return out;
}

export class DwarfTypes {
  private readonly structs = new Map<string, Die>();

  /** `aligns`: the compiler's _Alignof for the named structs; others fall back to their members. */
  constructor(private readonly dies: Map<number, Die>, private readonly aligns = new Map<string, number>()) {
    for (const die of dies.values()) {
      if ((die.tag === 'DW_TAG_structure_type' || die.tag === 'DW_TAG_union_type') && die.depth === 1) {
        const name = attrName(die);
        // Keep the complete definition, not a forward declaration.
        if (name && !die.attrs.has('DW_AT_declaration')) this.structs.set(name, die);
      }
    }
  }

  has(name: string): boolean {
    return this.structs.has(name);
  }

  /** The layout of a named struct or union, and of every named struct it reaches. */
  layouts(roots: Iterable<string>): Record<string, Layout> {
    const out: Record<string, Layout> = {};
    const pending = [...roots];
    while (pending.length > 0) {
      const name = pending.pop()!;
      if (out[name] || !this.structs.has(name)) continue;
      const layout = this.layoutOf(name, this.structs.get(name)!, pending);
      out[name] = layout;
    }
    return out;
  }

  private layoutOf(name: string, die: Die, pending: string[]): Layout {
    const union = die.tag === 'DW_TAG_union_type';
    const fields: Field[] = [];
    let align = 1;
    for (const child of die.children) {
      if (child.tag !== 'DW_TAG_member') continue;
      const typeOffset = attrRef(child, 'DW_AT_type');
      if (typeOffset === undefined) continue;
      const type = this.typeRef(typeOffset, name, pending);
      const size = this.sizeOf(typeOffset);
      align = Math.max(align, this.alignOf(typeOffset));
      const memberName = attrName(child) ?? '';
      const bitSize = attrNum(child, 'DW_AT_bit_size');
      if (bitSize !== undefined) {
        const bitOffset = attrNum(child, 'DW_AT_data_bit_offset') ?? 0;
        const unit = size * 8;
        const offset = Math.floor(bitOffset / unit) * size;
        fields.push({ name: memberName, offset, size, type, bits: { shift: bitOffset - offset * 8, width: bitSize } });
        continue;
      }
      const offset = union ? 0 : (attrNum(child, 'DW_AT_data_member_location') ?? 0);
      if (memberName === '' && type.kind === 'struct' && type.name.includes('::anon_')) {
        // C reaches the members of an anonymous struct or union directly: so do we.
        const inner = this.layoutOf(type.name, this.structs.get(type.name)!, pending);
        for (const f of inner.fields) fields.push({ ...f, offset: offset + f.offset });
        continue;
      }
      // __DECLARE_FLEX_ARRAY leaves an empty struct beside the array; it holds no bytes.
      if (size === 0 && type.kind === 'struct') continue;
      fields.push({ name: memberName, offset, size, type });
    }
    const size = attrNum(die, 'DW_AT_byte_size') ?? 0;
    align = this.aligns.get(name) ?? align;
    // An anonymous struct/union member gets a synthetic name; readers flatten it (C does too).
    return { name, union, size, align, fields };
  }

  private resolve(offset: number): Die {
    const die = this.dies.get(offset);
    if (!die) throw new Error(`DWARF refers to a missing DIE <0x${offset.toString(16)}>`);
    return die;
  }

  /** Strips typedefs and qualifiers. */
  private strip(offset: number): Die {
    let die = this.resolve(offset);
    while (['DW_TAG_typedef', 'DW_TAG_const_type', 'DW_TAG_volatile_type', 'DW_TAG_atomic_type'].includes(die.tag)) {
      const next = attrRef(die, 'DW_AT_type');
      if (next === undefined) break;
      die = this.resolve(next);
    }
    return die;
  }

  private sizeOf(offset: number): number {
    const die = this.strip(offset);
    if (die.tag === 'DW_TAG_array_type') {
      const count = this.arrayCount(die);
      return count === undefined ? 0 : count * this.sizeOf(attrRef(die, 'DW_AT_type')!);
    }
    return attrNum(die, 'DW_AT_byte_size') ?? 0;
  }

  private alignOf(offset: number): number {
    const die = this.strip(offset);
    const explicit = attrNum(die, 'DW_AT_alignment');
    if (explicit !== undefined) return explicit;
    if (die.tag === 'DW_TAG_array_type') return this.alignOf(attrRef(die, 'DW_AT_type')!);
    if (die.tag === 'DW_TAG_structure_type' || die.tag === 'DW_TAG_union_type') {
      let a = 1;
      for (const c of die.children) {
        const t = c.tag === 'DW_TAG_member' ? attrRef(c, 'DW_AT_type') : undefined;
        if (t !== undefined) a = Math.max(a, this.alignOf(t));
      }
      return a;
    }
    return Math.max(1, attrNum(die, 'DW_AT_byte_size') ?? 1);
  }

  private arrayCount(die: Die): number | undefined {
    let count: number | undefined;
    for (const sub of die.children) {
      if (sub.tag !== 'DW_TAG_subrange_type') continue;
      const n = attrNum(sub, 'DW_AT_count') ?? (attrNum(sub, 'DW_AT_upper_bound') !== undefined ? attrNum(sub, 'DW_AT_upper_bound')! + 1 : undefined);
      if (n === undefined) return undefined;
      count = (count ?? 1) * n;
    }
    return count;
  }

  private typeRef(offset: number, owner: string, pending: string[]): TypeRef {
    const die = this.strip(offset);
    switch (die.tag) {
      case 'DW_TAG_base_type': {
        // 128-bit integers and long doubles have no scalar kind: they stay bytes.
        const size = attrNum(die, 'DW_AT_byte_size') ?? 0;
        return [1, 2, 4, 8].includes(size) ? { kind: 'scalar', scalar: scalarOf(die) } : { kind: 'bytes' };
      }
      case 'DW_TAG_enumeration_type':
        return { kind: 'scalar', scalar: unsignedOf(attrNum(die, 'DW_AT_byte_size') ?? 4) };
      case 'DW_TAG_pointer_type':
        return { kind: 'scalar', scalar: 'ptr' };
      case 'DW_TAG_array_type': {
        const element = this.typeRef(attrRef(die, 'DW_AT_type')!, owner, pending);
        const count = this.arrayCount(die);
        // A flexible array member; the schema annotations name its count field.
        if (count === undefined || count === 0) return { kind: 'flex', element, countField: '' };
        return { kind: 'array', element, count };
      }
      case 'DW_TAG_structure_type':
      case 'DW_TAG_union_type': {
        const name = attrName(die);
        if (name) {
          pending.push(name);
          return { kind: 'struct', name };
        }
        // Anonymous aggregates are named after their owner and DIE so each stays unique.
        const synthetic = `${owner}::anon_${die.offset.toString(16)}`;
        this.structs.set(synthetic, die);
        pending.push(synthetic);
        return { kind: 'struct', name: synthetic };
      }
      default:
        return { kind: 'bytes' };
    }
  }
}

function unsignedOf(size: number): ScalarKind {
  return size === 1 ? 'u8' : size === 2 ? 'u16' : size === 8 ? 'u64' : 'u32';
}

function scalarOf(die: Die): ScalarKind {
  const size = attrNum(die, 'DW_AT_byte_size') ?? 4;
  const enc = die.attrs.get('DW_AT_encoding') ?? '';
  if (/boolean/.test(enc)) return 'bool';
  if (/signed/.test(enc) && !/unsigned/.test(enc)) {
    return size === 1 ? 's8' : size === 2 ? 's16' : size === 8 ? 's64' : 's32';
  }
  return unsignedOf(size);
}
