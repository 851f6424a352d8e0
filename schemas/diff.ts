// Compares two schema sets: every ioctl whose number, encoded size, direction, argument, layout or
// presence differs (QEMU's HAXM header against the driver's, Darwin against Linux, the legacy numbering
// against a proposal), the types whose layout differs, and, within each set, the numbers that two
// ioctls share with what tells them apart.

import type { Abi, IoctlSchema, Layout, SchemaSet, TypeRef } from './model.js';
import { ABI_NAMES, typeName } from './describe.js';
import { hex } from './ioc.js';

export type ChangeKind = 'number' | 'size' | 'direction' | 'argument' | 'data-flow' | 'objects' | 'returns' | 'capability' | 'buffers' | 'layout';

export interface Change {
  what: ChangeKind;
  /** The ABI (of A; of B where it differs, `lp64/llp64`) the values belong to, where it matters. */
  abi?: string;
  a: string | number | null;
  b: string | number | null;
  /** Field-level differences of a layout. */
  details?: string[];
}

export interface IoctlDiff {
  name: string;
  presence: 'both' | 'only-a' | 'only-b';
  /** The objects it is issued on (from the set that has it). */
  on: string[];
  changes: Change[];
  /** For `NAME__LEGACY` only in one set: how it compares with NAME in the other. */
  legacyOf?: { name: string; sameNumbers: boolean };
}

export interface TypeDiff {
  name: string;
  presence: 'both' | 'only-a' | 'only-b';
  abi?: string;
  details: string[];
}

export interface Collision {
  set: string;
  abi: Abi;
  number: number;
  ioctls: { name: string; on: string[] }[];
  /** What tells them apart (`the object: system vs vm`), or null when nothing does. */
  toldApartBy: string | null;
}

export interface SetDiff {
  a: string;
  b: string;
  /** The ABIs compared: A's and B's (the same ABI where both sets have it). */
  abiPairs: [Abi, Abi][];
  ioctls: IoctlDiff[];
  types: TypeDiff[];
  collisions: Collision[];
  /** Constants only in one set, or with other values. */
  constants: { name: string; a: number | null; b: number | null }[];
  /** How many ioctls are in both sets with nothing different. */
  unchanged: number;
}

const LEGACY = '__LEGACY';

/** Common ABIs, or each set's first ABI against the other's when they share none (Windows vs Linux). */
export function abiPairs(a: SchemaSet, b: SchemaSet): [Abi, Abi][] {
  const common = a.abis.filter((x) => b.abis.includes(x));
  return common.length > 0 ? common.map((x) => [x, x]) : [[a.abis[0], b.abis[0]]];
}

function abiLabel(pair: [Abi, Abi]): string {
  return pair[0] === pair[1] ? pair[0] : `${pair[0]}/${pair[1]}`;
}

/** Anonymous aggregates are named after their DIE, which differs between compilations. */
function stableTypeName(t: TypeRef): string {
  return typeName(t).replace(/::anon_[0-9a-f]+/g, '::anon');
}

function isNamed(name: string): boolean {
  return !name.includes('::');
}

/** Field-level differences between two layouts of one type. */
export function layoutDetails(a: Layout, b: Layout, aName: string, bName: string): string[] {
  const out: string[] = [];
  if (a.size !== b.size) out.push(`size ${a.size} in ${aName}, ${b.size} in ${bName}`);
  if (a.align !== b.align) out.push(`alignment ${a.align} in ${aName}, ${b.align} in ${bName}`);
  if (a.union !== b.union) out.push(`${a.union ? 'union' : 'struct'} in ${aName}, ${b.union ? 'union' : 'struct'} in ${bName}`);
  const named = (l: Layout) => l.fields.filter((f) => f.name !== '');
  const onlyA = named(a).filter((f) => !b.fields.some((g) => g.name === f.name)).map((f) => f.name);
  const onlyB = named(b).filter((f) => !a.fields.some((g) => g.name === f.name)).map((f) => f.name);
  if (onlyA.length > 0) out.push(`fields only in ${aName}: ${onlyA.join(', ')}`);
  if (onlyB.length > 0) out.push(`fields only in ${bName}: ${onlyB.join(', ')}`);
  for (const f of named(a)) {
    const g = b.fields.find((x) => x.name === f.name);
    if (!g) continue;
    const parts: string[] = [];
    if (f.offset !== g.offset) parts.push(`offset ${f.offset} -> ${g.offset}`);
    if (f.size !== g.size) parts.push(`size ${f.size} -> ${g.size}`);
    const ta = stableTypeName(f.type);
    const tb = stableTypeName(g.type);
    if (ta !== tb) parts.push(`type ${ta} -> ${tb}`);
    if (parts.length > 0) out.push(`${f.name}: ${parts.join(', ')}`);
  }
  return out;
}

function argType(io: IoctlSchema): string {
  const arg = io.arg;
  if (arg.kind === 'none') return 'none';
  if (arg.kind === 'value') return 'a value';
  return stableTypeName(arg.type);
}

function argDir(io: IoctlSchema): string {
  return io.arg.kind === 'pointer' ? io.arg.dir : 'none';
}

function compareIoctls(a: SchemaSet, b: SchemaSet, x: IoctlSchema, y: IoctlSchema, pairs: [Abi, Abi][]): Change[] {
  const changes: Change[] = [];
  for (const pair of pairs) {
    const [pa, pb] = pair;
    const na = x.numbers[pa];
    const nb = y.numbers[pb];
    if (na !== nb) changes.push({ what: 'number', abi: abiLabel(pair), a: na ?? null, b: nb ?? null });
    const sa = x.sizes[pa];
    const sb = y.sizes[pb];
    if (sa !== sb) changes.push({ what: 'size', abi: abiLabel(pair), a: sa ?? null, b: sb ?? null });
    const ba = x.buffers?.[pa];
    const bb = y.buffers?.[pb];
    if (ba && bb && (ba.in !== bb.in || ba.out !== bb.out)) {
      changes.push({ what: 'buffers', abi: abiLabel(pair), a: `in ${ba.in}, out ${ba.out}`, b: `in ${bb.in}, out ${bb.out}` });
    }
    if (x.arg.kind === 'pointer' && y.arg.kind === 'pointer' && x.arg.type.kind === 'struct' && y.arg.type.kind === 'struct') {
      const la = a.types[pa]?.[x.arg.type.name];
      const lb = b.types[pb]?.[y.arg.type.name];
      if (la && lb) {
        const details = layoutDetails(la, lb, a.id, b.id);
        if (details.length > 0) changes.push({ what: 'layout', abi: abiLabel(pair), a: `struct ${la.name}`, b: `struct ${lb.name}`, details });
      }
    }
  }
  const da = x.encoding.dir;
  const db = y.encoding.dir;
  if (da && db && (da !== db || !!x.encoding.noneWithSize !== !!y.encoding.noneWithSize)) {
    const show = (io: IoctlSchema) => (io.encoding.noneWithSize ? '_IOC_NONE' : io.encoding.dir!);
    changes.push({ what: 'direction', a: show(x), b: show(y) });
  }
  if (argType(x) !== argType(y)) changes.push({ what: 'argument', a: argType(x), b: argType(y) });
  if (argDir(x) !== argDir(y)) changes.push({ what: 'data-flow', a: argDir(x), b: argDir(y) });
  if (x.on.join(',') !== y.on.join(',')) changes.push({ what: 'objects', a: x.on.join(', '), b: y.on.join(', ') });
  if (JSON.stringify(x.returns) !== JSON.stringify(y.returns)) changes.push({ what: 'returns', a: JSON.stringify(x.returns), b: JSON.stringify(y.returns) });
  if ((x.capability ?? null) !== (y.capability ?? null)) changes.push({ what: 'capability', a: x.capability ?? null, b: y.capability ?? null });
  return changes;
}

/** Numbers two or more ioctls of one set share on one ABI, and whether the object tells them apart. */
export function collisions(set: SchemaSet): Collision[] {
  const out: Collision[] = [];
  for (const abi of set.abis) {
    const byNumber = new Map<number, IoctlSchema[]>();
    for (const io of set.ioctls) {
      const n = io.numbers[abi];
      if (n === undefined) continue;
      byNumber.set(n, [...(byNumber.get(n) ?? []), io]);
    }
    for (const [number, list] of byNumber) {
      if (list.length < 2) continue;
      const disjoint = list.every((p, i) => list.every((q, j) => i === j || !p.on.some((o) => q.on.includes(o))));
      out.push({
        set: set.id,
        abi,
        number,
        ioctls: list.map((io) => ({ name: io.name, on: io.on })),
        toldApartBy: disjoint ? `the object: ${list.map((io) => `${io.name} on ${io.on.join('/')}`).join(', ')}` : null,
      });
    }
  }
  return out.sort((p, q) => p.number - q.number || p.abi.localeCompare(q.abi));
}

/** `pairs`: which ABI of A to hold against which of B (default: the common ones); lp64 against ilp32 of one set shows what a 32-bit build changes. */
export function diffSets(a: SchemaSet, b: SchemaSet, pairs: [Abi, Abi][] = abiPairs(a, b)): SetDiff {
  const byName = (s: SchemaSet) => new Map(s.ioctls.map((io) => [io.name, io]));
  const ma = byName(a);
  const mb = byName(b);
  const ioctls: IoctlDiff[] = [];
  let unchanged = 0;
  const names = [...new Set([...ma.keys(), ...mb.keys()])];
  for (const name of names) {
    const x = ma.get(name);
    const y = mb.get(name);
    if (x && y) {
      const changes = compareIoctls(a, b, x, y, pairs);
      if (changes.length === 0) unchanged++;
      else ioctls.push({ name, presence: 'both', on: x.on, changes });
      continue;
    }
    const io = (x ?? y)!;
    const entry: IoctlDiff = { name, presence: x ? 'only-a' : 'only-b', on: io.on, changes: [] };
    if (name.endsWith(LEGACY)) {
      const base = name.slice(0, -LEGACY.length);
      const other = (x ? mb : ma).get(base);
      if (other) {
        const sameNumbers = pairs.every(([pa, pb]) => (x ? io.numbers[pa] === other.numbers[pb] : other.numbers[pa] === io.numbers[pb]));
        entry.legacyOf = { name: base, sameNumbers };
      }
    }
    ioctls.push(entry);
  }

  const types: TypeDiff[] = [];
  for (const pair of pairs) {
    const ta = a.types[pair[0]] ?? {};
    const tb = b.types[pair[1]] ?? {};
    const all = [...new Set([...Object.keys(ta), ...Object.keys(tb)])].filter(isNamed).sort();
    for (const name of all) {
      const la = ta[name];
      const lb = tb[name];
      if (la && lb) {
        const details = layoutDetails(la, lb, a.id, b.id);
        if (details.length > 0) types.push({ name, presence: 'both', abi: abiLabel(pair), details });
      } else if (pair === pairs[0]) {
        types.push({ name, presence: la ? 'only-a' : 'only-b', details: [] });
      }
    }
  }
  const constants: SetDiff['constants'] = [];
  for (const name of [...new Set([...Object.keys(a.constants), ...Object.keys(b.constants)])].sort()) {
    const va = a.constants[name] ?? null;
    const vb = b.constants[name] ?? null;
    if (va !== vb) constants.push({ name, a: va, b: vb });
  }
  return { a: a.id, b: b.id, abiPairs: pairs, ioctls, types, collisions: [...collisions(a), ...collisions(b)], constants, unchanged };
}

function value(v: string | number | null, what: ChangeKind): string {
  if (v === null) return 'absent';
  return typeof v === 'number' && what === 'number' ? hex(v) : String(v);
}

function abiText(label: string | undefined): string {
  if (!label) return '';
  const [x, y] = label.split('/') as Abi[];
  return y ? ` on ${ABI_NAMES[x]} / ${ABI_NAMES[y]}` : ` on ${ABI_NAMES[x]}`;
}

/** The text `ioctlgrind schemas diff` prints. */
export function formatDiff(d: SetDiff): string {
  const lines: string[] = [];
  const pairs = d.abiPairs.map((p) => (p[0] === p[1] ? ABI_NAMES[p[0]] : `${ABI_NAMES[p[0]]} against ${ABI_NAMES[p[1]]}`)).join(', ');
  lines.push(`${d.a} (A) against ${d.b} (B), ${pairs}`);
  const onlyA = d.ioctls.filter((i) => i.presence === 'only-a');
  const onlyB = d.ioctls.filter((i) => i.presence === 'only-b');
  const changed = d.ioctls.filter((i) => i.presence === 'both');
  const presence = (list: IoctlDiff[], where: string) => {
    if (list.length === 0) return;
    lines.push('', `only in ${where} (${list.length}):`);
    for (const i of list) {
      const other = where === d.a ? d.b : d.a;
      const legacy = i.legacyOf ? `; the legacy name of ${i.legacyOf.name}, ${i.legacyOf.sameNumbers ? 'with the same number as' : 'with another number than'} ${i.legacyOf.name} in ${other}` : '';
      lines.push(`  ${i.name} (${i.on.join(', ')})${legacy}`);
    }
  };
  presence(onlyA, d.a);
  presence(onlyB, d.b);
  if (changed.length > 0) {
    lines.push('', `different (${changed.length}):`);
    for (const i of changed) {
      lines.push(`  ${i.name} (${i.on.join(', ')})`);
      for (const c of i.changes) {
        if (c.what === 'layout') lines.push(`    layout of ${c.a === c.b ? c.a : `${c.a} / ${c.b}`}${abiText(c.abi)}:`);
        else lines.push(`    ${c.what}${abiText(c.abi)}: ${value(c.a, c.what)} in A, ${value(c.b, c.what)} in B`);
        for (const detail of c.details ?? []) lines.push(`      ${detail}`);
      }
    }
  }
  const typeChanges = d.types.filter((t) => t.presence === 'both');
  if (typeChanges.length > 0) {
    lines.push('', `types laid out differently (${typeChanges.length}):`);
    for (const t of typeChanges) {
      lines.push(`  ${t.name}${abiText(t.abi)}`);
      for (const detail of t.details) lines.push(`    ${detail}`);
    }
  }
  const typesOnly = (p: 'only-a' | 'only-b', id: string) => {
    const list = d.types.filter((t) => t.presence === p).map((t) => t.name);
    if (list.length > 0) lines.push('', `types only in ${id}: ${list.join(', ')}`);
  };
  typesOnly('only-a', d.a);
  typesOnly('only-b', d.b);
  if (d.constants.length > 0) {
    lines.push('', `constants that differ (${d.constants.length}):`);
    for (const c of d.constants) lines.push(`  ${c.name}: ${c.a === null ? 'absent' : hex(c.a)} in A, ${c.b === null ? 'absent' : hex(c.b)} in B`);
  }
  if (d.collisions.length > 0) {
    lines.push('', 'numbers two ioctls share within a set:');
    for (const c of d.collisions) {
      lines.push(`  ${hex(c.number)} in ${c.set} on ${ABI_NAMES[c.abi]}: ${c.ioctls.map((i) => i.name).join(' and ')}; ${c.toldApartBy ? `told apart by ${c.toldApartBy}` : 'nothing tells them apart'}`);
    }
  }
  lines.push('', `${d.unchanged} ioctls in both sets agree`);
  return lines.join('\n');
}
