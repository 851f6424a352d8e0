// Builds a schema set for a family that is described by ioctlgrind's own C declarations (HAXM, MSHV,
// Xen privcmd) joined with a semantics file: the compiler folds every request number (Linux _IOC,
// BSD _IOC or Windows CTL_CODE, as the header defines them for the target), every constant and
// every size, and lays the structs out per ABI; the semantics file says how the driver really uses
// each request. Nothing here computes a number or a layout.

import { isAbsolute, join } from 'node:path';
import { readFileSync } from 'node:fs';
import type {
  Abi, ArgSpec, Direction, Family, IocDir, IoctlSchema, Layout, Numbering, ObjectKind, PointerRule, Protocol, ReturnSpec,
  SchemaSet, SizeRule, TypeRef,
} from '../model.js';
import { bsdDecode, ctlCodeDecode, iocDecode } from '../ioc.js';
import { dataPath } from '../paths.js';
import { compilerVersion, hasCompiler, macroNames, measure, type Measurement, type Probe, type Target } from './compiler.js';
import { attachFlexCounts } from './kvm.js';

export const MINGW_CC = 'x86_64-w64-mingw32-gcc';

/** The Windows x64 cross compiler: IOCTLGRIND_MINGW_CC names another (a `-posix` flavour, a full path). */
export function mingwCompiler(): string {
  return process.env.IOCTLGRIND_MINGW_CC || MINGW_CC;
}

/** The compiler and flags that lay out each ABI; llp64 needs the mingw-w64 cross compiler. */
export function targetFor(abi: Abi, numbering: Numbering, includeDir: string): Target {
  const common = ['-I', includeDir, ...(numbering === 'bsd' ? ['-DIOCTLGRIND_BSD_IOCCOM'] : [])];
  switch (abi) {
    case 'lp64': return { abi, flags: ['-m64', ...common] };
    case 'ilp32': return { abi, flags: ['-m32', ...common] };
    case 'llp64': return { abi, flags: common, cc: mingwCompiler(), dwarfDump: ['objdump', '--dwarf=info'] };
  }
}

/** Why an ABI cannot be measured on this machine, or undefined when it can. */
export function missingToolchain(abi: Abi): string | undefined {
  const cc = mingwCompiler();
  if (abi === 'llp64' && !hasCompiler(cc)) {
    return `${cc} is not installed, so llp64 (Windows x64) layouts cannot be measured (Debian: apt-get install gcc-mingw-w64-x86-64)`;
  }
  return undefined;
}

// ---- the semantics file ---------------------------------------------------------------------

/** A size rule as written in a semantics file: `scaleType`/`addType` name C types the compiler sizes. */
export type SemanticSizeRule = SizeRule & { scaleType?: string; addType?: string };

export interface SemanticPointer {
  field: string;
  size: SemanticSizeRule;
  dir: Direction;
  /** The C type of the pointee (`struct privcmd_mmap_entry`). */
  type?: string;
  countField?: string;
}

export interface SemanticArg {
  kind?: 'none' | 'value' | 'pointer';
  /** The C type the argument points to (`struct hax_module_version`, `uint32_t`). */
  type?: string;
  meaning?: string;
  dir?: Direction;
  fieldDirs?: Record<string, Direction>;
  tail?: { field: string; countField: string; dir: Direction; max?: number };
  lengthField?: string;
  pointers?: SemanticPointer[];
}

export interface FamilySemantic {
  on?: string[];
  arg?: SemanticArg;
  returns?: ReturnSpec;
  capability?: string;
  sinceVersion?: number;
  /** The sub-table (in the semantics' `subtables`) that gives the real payload. */
  multiplex?: string;
  run?: boolean;
  notes?: string[];
  /** Overrides where the request works otherwise on Windows (DeviceIoControl buffers). */
  windows?: Omit<FamilySemantic, 'windows' | 'sets'>;
  /** Overrides for one schema set (by id). */
  sets?: Record<string, Omit<FamilySemantic, 'windows' | 'sets'>>;
}

export interface FamilySemantics {
  comment?: string;
  /** Object kinds; `paths` per OS key (`linux`, `darwin`, `windows`, ...). */
  objects: { name: string; paths?: Record<string, string[]> }[];
  /** Request macros start with one of these (the mingw SDK defines CTL_CODE requests of its own). */
  requestPrefixes: string[];
  constantPrefixes: string[];
  /** Types that are no argument but that a reader needs (the run page, shared records). */
  types?: string[];
  runPage?: { type: string; reasonField: string; exitPrefix: string; members: Record<string, string>; exclude?: string[] };
  /** Request names the semantics describe; `NAME__LEGACY` takes the semantics of NAME. */
  ioctls: Record<string, FamilySemantic>;
  /** The protocol requests (see the model's Protocol); names a set lacks are left out of it. */
  protocol?: Protocol;
  /** Multiplexed payloads: entries name a C type; the compiler gives their sizes. */
  subtables?: Record<string, { keyFields: string[]; entries: { key: Record<string, number | string>; name: string; type: string; dir?: Direction; notes?: string }[] }>;
}

export function loadFamilySemantics(relative: string): FamilySemantics {
  return JSON.parse(readFileSync(dataPath(relative), 'utf8')) as FamilySemantics;
}

// ---- a set to generate ----------------------------------------------------------------------

export interface FamilySetSpec {
  id: string;
  family: Family;
  description: string;
  os: string[];
  /** The key of `objects[].paths` that applies (`linux`, `darwin`, `netbsd`, `windows`). */
  pathsKey: string;
  origin: NonNullable<SchemaSet['origin']>;
  /** The header, relative to schemas/ (`haxm/haxm.h`). */
  header: string;
  /** Relative to schemas/ (`haxm/semantics.json`). */
  semantics: string;
  numbering: Numbering;
  abis: Abi[];
  notes?: string[];
}

export type Generated = { set: SchemaSet } | { skipped: string };

/**
 * Request macros are the family's macros whose body is a call of a function-like macro: `_IO*(...)`,
 * `_IOC(...)`, CTL_CODE or a header's own helper (HAX_WIN(fn)). Constants are plain expressions.
 */
const REQUEST_BODY = /^\(*\s*(?!__|sizeof\b|_Alignof\b)[A-Za-z_]\w*\s*\(/;
const LEGACY = '__LEGACY';

const C_SCALARS: Record<string, TypeRef> = {};
for (const [names, scalar] of [
  [['uint8_t', '__u8', 'u8', 'unsigned char', 'char'], 'u8'],
  [['uint16_t', '__u16', 'u16', 'unsigned short', 'domid_t'], 'u16'],
  [['uint32_t', '__u32', 'u32', 'unsigned int', 'unsigned'], 'u32'],
  [['uint64_t', '__u64', 'u64', 'unsigned long long'], 'u64'],
  [['int8_t', '__s8', 'signed char'], 's8'],
  [['int16_t', '__s16', 'short'], 's16'],
  [['int32_t', '__s32', 'int'], 's32'],
  [['int64_t', '__s64', 'long long'], 's64'],
  [['unsigned long', 'xen_pfn_t'], 'ulong'],
] as const) {
  for (const n of names) C_SCALARS[n] = { kind: 'scalar', scalar };
}

/** A C type name as a TypeRef: scalars, `struct x`, `struct x *` (a pointer), `x[]` arrays are not used. */
export function cTypeRef(text: string): TypeRef {
  const t = text.replace(/\bconst\b/g, '').replace(/\s+/g, ' ').trim();
  if (t.endsWith('*')) return { kind: 'scalar', scalar: 'ptr' };
  if (C_SCALARS[t]) return C_SCALARS[t];
  return { kind: 'struct', name: t.replace(/^(struct|union) /, '') };
}

function structOf(text: string | undefined): string | undefined {
  if (!text) return undefined;
  const t = cTypeRef(text);
  return t.kind === 'struct' ? t.name : undefined;
}

/** The semantics of `name` for this set: the base entry, then the Windows and per-set overrides. */
function semanticFor(sem: FamilySemantics, spec: FamilySetSpec, name: string): FamilySemantic | undefined {
  const base = sem.ioctls[name] ?? (name.endsWith(LEGACY) ? sem.ioctls[name.slice(0, -LEGACY.length)] : undefined);
  if (!base) return undefined;
  const { windows, sets, ...rest } = base;
  const merged: FamilySemantic = { ...rest };
  for (const o of [spec.numbering === 'windows' ? windows : undefined, sets?.[spec.id]]) {
    if (!o) continue;
    Object.assign(merged, o);
    if (o.notes && rest.notes) merged.notes = [...rest.notes, ...o.notes];
  }
  return merged;
}

function headerPath(relative: string): string {
  return isAbsolute(relative) ? relative : dataPath(relative);
}

export function generateFamilySet(spec: FamilySetSpec): Generated {
  for (const abi of spec.abis) {
    const why = missingToolchain(abi);
    if (why) return { skipped: `${spec.id}: skipped: ${why}` };
  }
  const sem = loadFamilySemantics(spec.semantics);
  const header = headerPath(spec.header);
  const includeDir = join(header, '..');
  const targets = spec.abis.map((abi) => targetFor(abi, spec.numbering, includeDir));
  const first = targets[0];

  // Which requests this header defines for this OS; every request it defines must be described.
  const macros = macroNames(first, [header]);
  const requests: string[] = [];
  for (const [name, body] of macros) {
    if (!REQUEST_BODY.test(body) || !sem.requestPrefixes.some((p) => name.startsWith(p))) continue;
    if (!semanticFor(sem, spec, name)) throw new Error(`${spec.header}: ${name} is a request that ${spec.semantics} does not describe`);
    requests.push(name);
  }
  const requestSet = new Set(requests);

  const enumPass = measure(first, [header], [], []);
  const constants = new Set<string>();
  const wanted = (n: string) => sem.constantPrefixes.some((p) => n.startsWith(p)) && !requestSet.has(n);
  for (const [name, body] of macros) if (wanted(name) && body !== '') constants.add(name);
  for (const name of enumPass.enumerators.keys()) if (wanted(name)) constants.add(name);

  // The types to lay out, and the C types whose sizes scale pointer rules.
  const structs = new Set<string>(sem.types ?? []);
  if (sem.runPage) structs.add(sem.runPage.type);
  const usedTables = new Set(requests.map((r) => semanticFor(sem, spec, r)!.multiplex).filter((t): t is string => t !== undefined));
  for (const t of usedTables) {
    const table = sem.subtables?.[t];
    if (!table) throw new Error(`${spec.semantics}: no sub-table ${t}`);
    for (const e of table.entries) { const st = structOf(e.type); if (st) structs.add(st); }
  }
  const sizedTypes = new Set<string>();
  const semantics = new Map(requests.map((r) => [r, semanticFor(sem, spec, r)!]));
  for (const s of semantics.values()) {
    const argStruct = structOf(s.arg?.type);
    if (argStruct) structs.add(argStruct);
    if (s.arg?.type && s.arg.kind !== 'value') sizedTypes.add(s.arg.type);
    for (const p of s.arg?.pointers ?? []) {
      const ps = structOf(p.type);
      if (ps) structs.add(ps);
      for (const t of [p.size.scaleType, p.size.addType]) {
        if (!t) continue;
        sizedTypes.add(t);
        const ts = structOf(t);
        if (ts) structs.add(ts);
      }
    }
  }
  const sizeProbe = (t: string) => `Z_${t.replace(/\W+/g, '_')}`;
  const probes: Probe[] = [
    ...requests.map((r) => ({ name: `R_${r}`, expr: r })),
    ...[...constants].map((c) => ({ name: `C_${c}`, expr: c })),
    ...[...sizedTypes].map((t) => ({ name: sizeProbe(t), expr: `sizeof(${t})` })),
  ];
  const byAbi = new Map<Abi, Measurement>();
  for (const target of targets) byAbi.set(target.abi, measure(target, [header], probes, [...structs].sort()));

  const types: Partial<Record<Abi, Record<string, Layout>>> = {};
  for (const [abi, m] of byAbi) types[abi] = m.types.layouts([...structs].sort());

  const firstM = byAbi.get(first.abi)!;
  const constantValues: Record<string, number> = {};
  for (const c of [...constants].sort()) {
    const v = firstM.values.get(`C_${c}`);
    if (v !== undefined) constantValues[c] = v;
  }
  const sizeOf = (abi: Abi, t: string): number | undefined => byAbi.get(abi)!.values.get(sizeProbe(t));

  const ioctls: IoctlSchema[] = [];
  for (const name of requests) {
    const s = semantics.get(name)!;
    const numbers: Partial<Record<Abi, number>> = {};
    const sizes: Partial<Record<Abi, number>> = {};
    for (const [abi, m] of byAbi) {
      const v = m.values.get(`R_${name}`);
      if (v === undefined) continue;
      numbers[abi] = v >>> 0;
      sizes[abi] = spec.numbering === 'windows' ? (s.arg?.type && s.arg.kind !== 'value' ? (sizeOf(abi, s.arg.type) ?? 0) : 0) : decodeParts(spec.numbering, v).size;
    }
    const firstNumber = numbers[first.abi];
    if (firstNumber === undefined) throw new Error(`${spec.id}: the compiler could not fold ${name}`);
    const notes = [...(s.notes ?? [])];
    if (name.endsWith(LEGACY)) notes.push('the legacy number, kept beside the new one during the grace period');
    const encoding = encodingOf(spec.numbering, firstNumber);
    const arg = argSpec(name, s.arg, encoding.dir, types, byAbi, sizeProbe);
    // Where the number's size is not the pointee's, say so (pointers to pointers, v2 structs).
    if (spec.numbering !== 'windows' && arg.kind === 'pointer' && s.arg?.type) {
      for (const abi of spec.abis) {
        const real = sizeOf(abi, s.arg.type);
        if (real !== undefined && sizes[abi] !== undefined && real !== sizes[abi] && !arg.tail) {
          notes.push(`the number encodes ${sizes[abi]} bytes on ${abi}; the driver reads ${s.arg.type} (${real} bytes)`);
        }
      }
    }
    if (encoding.noneWithSize) notes.push(`_IOC(_IOC_NONE, ...) with a size: the direction bits say nothing; the fields' real directions are in the schema`);
    const schema: IoctlSchema = {
      name,
      family: spec.family,
      on: s.on ?? [sem.objects[0].name],
      encoding,
      numbers,
      sizes,
      arg,
      returns: s.returns ?? { kind: 'zero' },
    };
    if (spec.numbering === 'windows') schema.buffers = windowsBuffers(arg, sizes);
    if (s.capability) schema.capability = s.capability;
    if (s.sinceVersion !== undefined) schema.sinceVersion = s.sinceVersion;
    if (s.multiplex) schema.multiplex = s.multiplex;
    if (s.run) schema.run = true;
    if (notes.length > 0) schema.notes = notes;
    ioctls.push(schema);
  }
  const key = (io: IoctlSchema) => io.encoding.function ?? io.encoding.nr ?? 0;
  ioctls.sort((a, b) => key(a) - key(b) || (a.numbers[first.abi]! - b.numbers[first.abi]!) || a.name.localeCompare(b.name));
  attachFlexCounts(ioctls, types);

  const objects: ObjectKind[] = sem.objects.map((o) => {
    const paths = o.paths?.[spec.pathsKey];
    return paths ? { name: o.name, paths } : { name: o.name };
  });

  const set: SchemaSet = {
    id: spec.id,
    family: spec.family,
    description: spec.description,
    source: {
      header: `schemas/${spec.header}`,
      semantics: `schemas/${spec.semantics}`,
      compiler: targets.map((t) => `${t.abi}: ${compilerVersion(t.cc)} ${t.flags.filter((f) => f.startsWith('-m') || f.startsWith('-D')).join(' ')}`.trim()).join('; '),
    },
    os: spec.os,
    origin: spec.origin,
    abis: spec.abis,
    numbering: spec.numbering,
    objects,
    ioctls,
    types,
    subtables: {},
    constants: constantValues,
  };
  for (const t of [...usedTables].sort()) {
    const table = sem.subtables![t];
    set.subtables[t] = {
      name: t,
      keyFields: table.keyFields,
      entries: table.entries.map((e) => {
        const type = cTypeRef(e.type);
        const size = type.kind === 'struct' ? types[first.abi]?.[type.name]?.size : undefined;
        if (size === undefined) throw new Error(`${spec.id}: sub-table ${t} entry ${e.name}: ${e.type} is not laid out`);
        return { key: e.key, name: e.name, size, type, ...(e.dir ? { dir: e.dir } : {}), ...(e.notes ? { notes: e.notes } : {}) };
      }),
    };
  }
  if (spec.notes && spec.notes.length > 0) set.notes = spec.notes;
  const protocol = protocolFor(sem.protocol, new Set(ioctls.map((i) => i.name)));
  if (protocol) set.protocol = protocol;
  if (sem.runPage && types[first.abi]?.[sem.runPage.type]) {
    const rp = sem.runPage;
    const exits = Object.entries(constantValues)
      .filter(([n]) => n.startsWith(rp.exitPrefix) && !(rp.exclude ?? []).includes(n))
      .map(([name, value]) => ({ name, value, ...(rp.members[name] && memberExists(types[first.abi]![rp.type], rp.members[name]) ? { member: rp.members[name] } : {}) }))
      .sort((a, b) => a.value - b.value || a.name.localeCompare(b.name));
    set.runPage = { type: rp.type, reasonField: rp.reasonField, exits };
  }
  return { set };
}

/** The protocol with only the requests this set defines. */
function protocolFor(p: Protocol | undefined, names: Set<string>): Protocol | undefined {
  if (!p) return undefined;
  const out: Protocol = {};
  for (const [key, value] of Object.entries(p) as [keyof Protocol, Protocol[keyof Protocol]][]) {
    if (typeof value === 'string') { if (names.has(value)) (out as Record<string, unknown>)[key] = value; }
    else if (Array.isArray(value)) { const kept = value.filter((n) => names.has(n)); if (kept.length > 0) (out as Record<string, unknown>)[key] = kept; }
    // An object names its request, or (versionFields) belongs to the version request.
    else if (value && names.has('request' in value ? value.request : (p.version ?? ''))) (out as Record<string, unknown>)[key] = value;
  }
  return Object.keys(out).length > 0 ? out : undefined;
}

function memberExists(layout: Layout, member: string): boolean {
  return layout.fields.some((f) => f.name === member);
}

export function decodeParts(numbering: Numbering, n: number): { dir: IocDir | 'none'; type: number; nr: number; size: number } {
  return numbering === 'bsd' ? bsdDecode(n) : iocDecode(n);
}

/** The encoding fields, read back from the number the compiler folded. */
export function encodingOf(numbering: Numbering, n: number): IoctlSchema['encoding'] {
  if (numbering === 'windows') {
    const c = ctlCodeDecode(n);
    return { numbering, deviceType: c.deviceType, function: c.function, method: c.method, access: c.access };
  }
  const p = decodeParts(numbering, n);
  const dir: IocDir = p.dir === 'none' ? '_IO' : p.dir;
  const e: IoctlSchema['encoding'] = { numbering, dir, type: p.type, nr: p.nr };
  if (numbering === 'linux' && dir === '_IO' && p.size > 0) e.noneWithSize = true;
  return e;
}

const DIR_OF_IOC: Record<IocDir, Direction> = { _IO: 'none', _IOR: 'out', _IOW: 'in', _IOWR: 'inout' };

function argSpec(
  name: string,
  s: SemanticArg | undefined,
  dir: IocDir | undefined,
  types: Partial<Record<Abi, Record<string, Layout>>>,
  byAbi: Map<Abi, Measurement>,
  sizeProbe: (t: string) => string,
): ArgSpec {
  if (s?.kind === 'none' || (!s?.type && s?.kind !== 'value')) return { kind: 'none' };
  if (s.kind === 'value') return s.meaning ? { kind: 'value', meaning: s.meaning } : { kind: 'value' };
  const type = cTypeRef(s.type!);
  const spec: ArgSpec = { kind: 'pointer', type, dir: s.dir ?? (dir && !(dir === '_IO') ? DIR_OF_IOC[dir] : 'inout') };
  if (s.fieldDirs) spec.fieldDirs = s.fieldDirs;
  if (s.lengthField) spec.lengthField = s.lengthField;
  if (s.tail) {
    const abi = [...byAbi.keys()][0];
    const layout = type.kind === 'struct' ? types[abi]?.[type.name] : undefined;
    const flex = layout?.fields.find((f) => f.name === s.tail!.field);
    if (!flex || flex.type.kind !== 'flex') throw new Error(`${name}: tail field ${s.tail.field} is not a flexible array of ${s.type}`);
    spec.tail = { ...s.tail, element: flex.type.element };
  }
  if (s.pointers) {
    spec.pointers = s.pointers.map((p): PointerRule => {
      const rule: PointerRule = { field: p.field, size: sizeRule(p.size, byAbi, sizeProbe), dir: p.dir };
      if (p.type) rule.type = cTypeRef(p.type);
      if (p.countField) rule.countField = p.countField;
      return rule;
    });
  }
  return spec;
}

/** Turns `scaleType`/`addType` into the sizes the compiler measured, per ABI where they differ. */
function sizeRule(r: SemanticSizeRule, byAbi: Map<Abi, Measurement>, sizeProbe: (t: string) => string): SizeRule {
  if (r.kind !== 'field') return r;
  const { scaleType, addType, ...rest } = r;
  const out: SizeRule = { ...rest };
  const perAbi = (t: string) => {
    const m: Partial<Record<Abi, number>> = {};
    for (const [abi, meas] of byAbi) {
      const v = meas.values.get(sizeProbe(t));
      if (v === undefined) throw new Error(`the compiler could not size ${t}`);
      m[abi] = v;
    }
    return m;
  };
  if (scaleType) {
    const m = perAbi(scaleType);
    const values = Object.values(m);
    out.scale = values[0];
    if (new Set(values).size > 1) out.scaleByAbi = m;
  }
  if (addType) {
    const m = perAbi(addType);
    const values = Object.values(m);
    out.add = values[0];
    if (new Set(values).size > 1) out.addByAbi = m;
  }
  return out;
}

function windowsBuffers(arg: ArgSpec, sizes: Partial<Record<Abi, number>>): Partial<Record<Abi, { in: number; out: number }>> {
  const out: Partial<Record<Abi, { in: number; out: number }>> = {};
  for (const [abi, size] of Object.entries(sizes) as [Abi, number][]) {
    const dir = arg.kind === 'pointer' ? arg.dir : 'none';
    out[abi] = { in: dir === 'in' || dir === 'inout' ? size : 0, out: dir === 'out' || dir === 'inout' ? size : 0 };
  }
  return out;
}
