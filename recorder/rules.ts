// The rule table: what the native shim needs from the schema registry, as a compact binary file it
// maps read-only at start-up. Built per ABI from the schemas; record keeps the last ones it used
// (rule-cache.ts). The C side is recorder/shim/rules.c; the layout is described in docs/recorder.md.

import type { Abi, Direction, IoctlSchema, PointerRule, SchemaSet, SubtableEntry } from '../schemas/model.js';
import { fieldLocation, typeSize } from '../schemas/codec.js';
import { SHIM_ABIS, type RuleTables } from './rule-cache.js';

const MAGIC = 'IOGRULE2';
const VERSION = 2;
const HEADER = 64;
const RULE = 32;
const PTR = 32;
const ATTR = 24;
const PATH = 16;
const NO_FIELD = 0xffff;
const SCALE_ONE = 1024;

export const OBJ = { none: 0, system: 1, vm: 2, vcpu: 3, device: 4, other: 5 } as const;
const ARG = { none: 0, value: 1, pointer: 2 } as const;
const SZ = { const: 1, field: 2, deviceAttr: 3, oneReg: 4, dirtyBitmap: 5, cstring: 6, fieldBits: 7 } as const;
const RULE_RUN = 1;
const RULE_RET_FD = 2;
const PTR_SIZE_IN_ELEM = 1;
const ATTR_ANY = 0xffffffff;
const ATTR_ANY64 = 0xffffffffffffffffn;
/** The device key of attributes read on the /dev/kvm, VM and vCPU fds themselves. */
const ATTR_OBJECTS: Record<string, number> = { system: 0xfffffffe, vcpu: 0xfffffffd, vm: 0xfffffffc };

export function objectCode(kind: string): number {
  return kind in OBJ ? OBJ[kind as keyof typeof OBJ] : OBJ.other;
}

export function dirCode(dir: Direction | undefined): number {
  return dir === 'in' ? 1 : dir === 'out' ? 2 : dir === 'inout' ? 3 : 0;
}

interface RuleRow {
  request: number;
  kind: number;
  argkind: number;
  dir: number;
  flags: number;
  argsize: number;
  retkind: number;
  tailDir: number;
  retField: number;
  retType: number;
  tailCount: number;
  tailCountSize: number;
  tailElem: number;
  tailOff: number;
  ptrFirst: number;
  ptrCount: number;
  tailMax: number;
}

interface PtrRow {
  field: number;
  width: number;
  dir: number;
  sizeKind: number;
  fsize: number;
  pOff: number;
  pConst: number;
  pAdd: number;
  role: string;
  /** Pointers in array elements: the element count (0: a single pointer), size, index position in the role. */
  count: number;
  stride: number;
  flags: number;
  indexAt: number;
}

interface AttrRow {
  device: number;
  group: number;
  attr: bigint;
  size: number;
  dir: number;
}

class Strings {
  private readonly parts: Buffer[] = [];
  private length = 0;
  private readonly seen = new Map<string, number>();
  add(s: string): { off: number; len: number } {
    const bytes = Buffer.from(s, 'utf8');
    let off = this.seen.get(s);
    if (off === undefined) {
      off = this.length;
      this.seen.set(s, off);
      this.parts.push(bytes);
      this.length += bytes.length;
    }
    return { off, len: bytes.length };
  }
  bytes(): Buffer {
    return Buffer.concat(this.parts);
  }
}

/** The C-side device key of a device-attr sub-table entry: a device type number or an object. */
function deviceKey(set: SchemaSet, device: number | string | undefined): number | undefined {
  if (device === undefined || device === '*') return ATTR_ANY;
  if (typeof device === 'number') return device;
  if (device in ATTR_OBJECTS) return ATTR_OBJECTS[device];
  const prefix = `${set.family.toUpperCase()}_DEV_TYPE_`;
  return set.constants[prefix + device.toUpperCase().replace(/-/g, '_')];
}

function attrRows(set: SchemaSet): AttrRow[] {
  const table = set.subtables['device-attr'];
  if (!table) return [];
  const rows: AttrRow[] = [];
  for (const e of table.entries as SubtableEntry[]) {
    const device = deviceKey(set, e.key.device);
    if (device === undefined) continue;
    const group = e.key.group === undefined || e.key.group === '*' ? ATTR_ANY : Number(e.key.group);
    const attr = e.key.attr === undefined || e.key.attr === '*' ? ATTR_ANY64 : BigInt(e.key.attr);
    rows.push({ device, group, attr, size: e.size, dir: dirCode(e.dir) });
  }
  return rows;
}

/**
 * A pointer inside the elements of a fixed-length array (`ranges[].bitmap`): the array's element
 * count and size, and where the index goes in the role, as planRegions (schemas/regions.ts) walks
 * it. Arrays reached through a pointer or of variable length give no elements there, so none here.
 */
function arrayOf(set: SchemaSet, abi: Abi, struct: string, path: string): { prefix: string; count: number; stride: number } | undefined {
  const at = path.indexOf('[]');
  const prefix = path.slice(0, at);
  const array = fieldLocation(set, abi, struct, prefix);
  const elem = fieldLocation(set, abi, struct, `${prefix}[]`);
  if (array?.type.kind !== 'array' || !elem || array.type.count === 0) return undefined;
  return { prefix, count: array.type.count, stride: elem.size };
}

function pointerRow(set: SchemaSet, abi: Abi, struct: string, p: PointerRule): PtrRow | undefined {
  const at = fieldLocation(set, abi, struct, p.field);
  if (!at) return undefined;
  const row: PtrRow = { field: at.offset, width: at.size, dir: dirCode(p.dir), sizeKind: 0, fsize: 0, pOff: 0, pConst: 0, pAdd: 0, role: p.field, count: 0, stride: 0, flags: 0, indexAt: 0 };
  let array: ReturnType<typeof arrayOf>;
  if (p.field.includes('[]')) {
    array = arrayOf(set, abi, struct, p.field);
    const indexAt = Buffer.byteLength(p.field.slice(0, p.field.indexOf('[]') + 1));
    if (!array || array.count > 0xffff || array.stride > 0xffff || indexAt > 0xff) return undefined;
    Object.assign(row, { count: array.count, stride: array.stride, indexAt });
  }
  const size = p.size;
  const loc = (name: string) => fieldLocation(set, abi, struct, name);
  switch (size.kind) {
    case 'const':
      return { ...row, sizeKind: SZ.const, pConst: size.size };
    case 'field': {
      const f = loc(size.field);
      if (!f) return undefined;
      // planRegions reads `ranges[].nmsrs` in the pointer's own element; a count in some other array cannot be said.
      let flags = row.flags;
      if (size.field.includes('[]')) {
        if (!array || !size.field.startsWith(`${array.prefix}[]`)) return undefined;
        flags |= PTR_SIZE_IN_ELEM;
      }
      if (size.bits) return { ...row, flags, sizeKind: SZ.fieldBits, pOff: f.offset, fsize: f.size };
      return { ...row, flags, sizeKind: SZ.field, pOff: f.offset, fsize: f.size, pConst: Math.round((size.scale ?? 1) * SCALE_ONE), pAdd: size.add ?? 0 };
    }
    case 'dirty-bitmap': {
      const f = loc(size.slotField);
      return f ? { ...row, sizeKind: SZ.dirtyBitmap, pOff: f.offset } : undefined;
    }
    case 'cstring':
      return { ...row, sizeKind: SZ.cstring };
    case 'subtable': {
      if (size.table === 'one-reg') {
        const id = loc('id');
        return id ? { ...row, sizeKind: SZ.oneReg, pOff: id.offset } : undefined;
      }
      if (size.table === 'device-attr') {
        const group = loc('group');
        const attr = loc('attr');
        return group && attr ? { ...row, sizeKind: SZ.deviceAttr, pOff: group.offset, pAdd: attr.offset } : undefined;
      }
      // A sub-table the shim cannot evaluate: the region is recorded with "unknown size".
      return { ...row, sizeKind: 0 };
    }
  }
}

function ruleRows(set: SchemaSet, abi: Abi, io: IoctlSchema, ptrs: PtrRow[]): RuleRow[] {
  const request = io.numbers[abi];
  if (request === undefined || io.arch) return [];
  const arg = io.arg;
  const base: RuleRow = {
    request: request >>> 0, kind: 0, argkind: ARG[arg.kind], dir: 0, flags: io.run ? RULE_RUN : 0, argsize: 0,
    retkind: 0, tailDir: 0, retField: NO_FIELD, retType: NO_FIELD, tailCount: NO_FIELD, tailCountSize: 0,
    tailElem: 0, tailOff: 0, ptrFirst: ptrs.length, ptrCount: 0, tailMax: 0,
  };
  const struct = arg.kind === 'pointer' && arg.type.kind === 'struct' ? arg.type.name : undefined;
  if (arg.kind === 'pointer') {
    base.dir = dirCode(arg.dir);
    base.argsize = typeSize(set, abi, arg.type) || (io.sizes[abi] ?? 0);
    if (arg.tail && struct) {
      const count = fieldLocation(set, abi, struct, arg.tail.countField);
      const tail = fieldLocation(set, abi, struct, `${arg.tail.field}[]`);
      if (count && tail) {
        base.tailCount = count.offset;
        base.tailCountSize = count.size;
        base.tailOff = tail.offset;
        base.tailElem = typeSize(set, abi, arg.tail.element);
        base.tailDir = dirCode(arg.tail.dir);
        base.tailMax = Math.min(arg.tail.max ?? 0xffff, 0xffff);
      }
    }
    for (const p of struct ? (arg.pointers ?? []) : []) {
      const row = pointerRow(set, abi, struct!, p);
      if (row) ptrs.push(row);
    }
    base.ptrCount = ptrs.length - base.ptrFirst;
  }
  const ret = io.returns;
  if (ret.kind === 'fd') {
    base.flags |= RULE_RET_FD;
    base.retkind = objectCode(ret.object);
    if (ret.field && struct) base.retField = fieldLocation(set, abi, struct, ret.field)?.offset ?? NO_FIELD;
    if (ret.typeField && struct) base.retType = fieldLocation(set, abi, struct, ret.typeField)?.offset ?? NO_FIELD;
  }
  return io.on.map((on) => ({ ...base, kind: objectCode(on) }));
}

/** The rule tables of a set for the shims of both classes. */
export function buildRuleTables(set: SchemaSet): RuleTables {
  return Object.fromEntries(SHIM_ABIS.map((abi) => [abi, buildRuleTable(set, abi)])) as RuleTables;
}

/** The binary rule table of one schema set for one ABI. */
export function buildRuleTable(set: SchemaSet, abi: Abi): Buffer {
  const strings = new Strings();
  const ptrs: PtrRow[] = [];
  const rules = set.ioctls.flatMap((io) => ruleRows(set, abi, io, ptrs));
  rules.sort((a, b) => a.request - b.request || a.kind - b.kind);
  const unique = rules.filter((r, i) => i === 0 || r.request !== rules[i - 1].request || r.kind !== rules[i - 1].kind);
  const attrs = attrRows(set);
  const paths = set.objects.flatMap((o) => (o.paths ?? []).map((p) => ({ path: p, kind: objectCode(o.name) })));

  const rulesOff = HEADER;
  const ptrsOff = rulesOff + unique.length * RULE;
  const attrsOff = ptrsOff + ptrs.length * PTR;
  const pathsOff = attrsOff + attrs.length * ATTR;
  const strsOff = pathsOff + paths.length * PATH;
  const body = Buffer.alloc(strsOff);

  unique.forEach((r, i) => {
    const o = rulesOff + i * RULE;
    body.writeUInt32LE(r.request, o);
    body.writeUInt8(r.kind, o + 4);
    body.writeUInt8(r.argkind, o + 5);
    body.writeUInt8(r.dir, o + 6);
    body.writeUInt8(r.flags, o + 7);
    body.writeUInt32LE(r.argsize, o + 8);
    body.writeUInt8(r.retkind, o + 12);
    body.writeUInt8(r.tailDir, o + 13);
    body.writeUInt16LE(r.retField, o + 14);
    body.writeUInt16LE(r.retType, o + 16);
    body.writeUInt16LE(r.tailCount, o + 18);
    body.writeUInt8(r.tailCountSize, o + 20);
    body.writeUInt16LE(r.tailElem, o + 22);
    body.writeUInt16LE(r.tailOff, o + 24);
    body.writeUInt16LE(r.ptrFirst, o + 26);
    body.writeUInt16LE(r.ptrCount, o + 28);
    body.writeUInt16LE(r.tailMax, o + 30);
  });
  ptrs.forEach((p, i) => {
    const o = ptrsOff + i * PTR;
    const role = strings.add(p.role);
    body.writeUInt16LE(p.field, o);
    body.writeUInt8(p.width, o + 2);
    body.writeUInt8(p.dir, o + 3);
    body.writeUInt8(p.sizeKind, o + 4);
    body.writeUInt8(p.fsize, o + 5);
    body.writeUInt16LE(p.pOff, o + 6);
    body.writeUInt32LE(p.pConst, o + 8);
    body.writeUInt32LE(p.pAdd, o + 12);
    body.writeUInt32LE(role.off, o + 16);
    body.writeUInt16LE(role.len, o + 20);
    body.writeUInt16LE(p.count, o + 22);
    body.writeUInt16LE(p.stride, o + 24);
    body.writeUInt8(p.flags, o + 26);
    body.writeUInt8(p.indexAt, o + 27);
  });
  attrs.forEach((a, i) => {
    const o = attrsOff + i * ATTR;
    body.writeUInt32LE(a.device, o);
    body.writeUInt32LE(a.group, o + 4);
    body.writeBigUInt64LE(a.attr, o + 8);
    body.writeUInt32LE(a.size, o + 16);
    body.writeUInt8(a.dir, o + 20);
  });
  paths.forEach((p, i) => {
    const o = pathsOff + i * PATH;
    const s = strings.add(p.path);
    body.writeUInt32LE(s.off, o);
    body.writeUInt32LE(s.len, o + 4);
    body.writeUInt8(p.kind, o + 8);
  });
  const strs = strings.bytes();
  body.write(MAGIC, 0, 'latin1');
  const header = [VERSION, abi === 'ilp32' ? 1 : 0, paths.length, pathsOff, unique.length, rulesOff, ptrs.length, ptrsOff, attrs.length, attrsOff, strs.length, strsOff];
  header.forEach((v, i) => body.writeUInt32LE(v, 8 + i * 4));
  return Buffer.concat([body, strs]);
}
