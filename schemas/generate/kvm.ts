// Builds the KVM schema set: request numbers, sizes and layouts measured by the compiler from the
// system's linux/kvm.h, joined with schemas/kvm/semantics.json (how the kernel really uses each one).

import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import type {
  Abi, ArgSpec, Direction, IocDir, IoctlSchema, Layout, MappedPage, PointerRule, Protocol, ReturnSpec, SchemaSet, SizeRule,
  Subtable, SubtableEntry, TypeRef,
} from '../model.js';
import { dataPath } from '../paths.js';
import { compilerVersion, macroNames, measure, type Measurement, type Probe, type Target } from './compiler.js';

const HEADER = 'linux/kvm.h';

/** Other architectures' uapi headers (Debian's linux-libc-dev-*-cross) measure their own requests. */
const ARCH_HEADERS: { arch: string; dir: string }[] = [
  { arch: 'arm64', dir: '/usr/aarch64-linux-gnu/include' },
  { arch: 's390', dir: '/usr/s390x-linux-gnu/include' },
  { arch: 'ppc', dir: '/usr/powerpc64le-linux-gnu/include' },
];

const X86_TARGETS: Target[] = [
  { abi: 'lp64', flags: ['-m64'] },
  { abi: 'ilp32', flags: ['-m32'] },
];

interface SemanticArg {
  kind?: 'none' | 'value' | 'pointer';
  type?: string;
  meaning?: string;
  names?: string;
  dir?: Direction;
  fieldDirs?: Record<string, Direction>;
  tail?: { field: string; countField: string; dir: Direction; max?: number };
  lengthField?: string;
  pointers?: { field: string; size: SizeRule; dir: Direction; countField?: string }[];
}

interface Semantic {
  on?: string[];
  arg?: SemanticArg;
  returns?: ReturnSpec;
  capability?: string;
  multiplex?: string;
  run?: boolean;
  arch?: string;
  notes?: string[];
}

interface SemanticEntry {
  key: Record<string, number | string>;
  name: string;
  type?: string;
  size?: number;
  dir?: Direction;
  sizeFrom?: string;
  arch?: string;
  notes?: string;
}

interface Semantics {
  onByNr: { from: number; to: number; on: string[] }[];
  objects: { name: string; paths?: string[] }[];
  ioctls: Record<string, Semantic>;
  subtables: Record<string, { keyFields: string[]; entries: SemanticEntry[] }>;
  runPage: { type: string; reasonField: string; members: Record<string, string> };
  protocol: Protocol;
  /** Macros the uapi headers expect the kernel to define (PAGE_SIZE), for the constants built on them. */
  defines: Record<string, number>;
  mappings: { object: string; pageOffset: number | string; type: string; tail?: { field: string; count: string }; notes?: string }[];
  constantPrefixes: string[];
}

interface RequestMacro {
  name: string;
  dir: IocDir;
  nr: number;
  typeText: string;
}

const REQUEST_MACRO = /^(_IO|_IOR|_IOW|_IOWR)\(KVMIO,\s*(0x[0-9a-fA-F]+|\d+)\s*(?:,\s*(.+?))?\s*\)$/;

export function requestMacros(macros: Map<string, string>): RequestMacro[] {
  const out: RequestMacro[] = [];
  for (const [name, body] of macros) {
    const m = REQUEST_MACRO.exec(body.trim());
    if (m) out.push({ name, dir: m[1] as IocDir, nr: Number(m[2]), typeText: (m[3] ?? '').trim() });
  }
  return out.sort((a, b) => a.nr - b.nr || a.name.localeCompare(b.name));
}

const SCALAR_TYPES: Record<string, TypeRef> = {
  __u8: { kind: 'scalar', scalar: 'u8' },
  __u16: { kind: 'scalar', scalar: 'u16' },
  __u32: { kind: 'scalar', scalar: 'u32' },
  __u64: { kind: 'scalar', scalar: 'u64' },
  __s32: { kind: 'scalar', scalar: 's32' },
  __s64: { kind: 'scalar', scalar: 's64' },
  int: { kind: 'scalar', scalar: 's32' },
  'unsigned int': { kind: 'scalar', scalar: 'u32' },
  'unsigned long': { kind: 'scalar', scalar: 'ulong' },
  u8: { kind: 'scalar', scalar: 'u8' },
  u16: { kind: 'scalar', scalar: 'u16' },
  u32: { kind: 'scalar', scalar: 'u32' },
  u64: { kind: 'scalar', scalar: 'u64' },
  s32: { kind: 'scalar', scalar: 's32' },
};

/** A C type name (`struct kvm_regs`, `__u64`, `kvm_regs`) as a TypeRef. */
function typeOf(text: string): TypeRef {
  const t = text.replace(/\s+/g, ' ').trim();
  if (SCALAR_TYPES[t]) return SCALAR_TYPES[t];
  return { kind: 'struct', name: t.replace(/^struct /, '') };
}

const DIR_OF_IOC: Record<IocDir, Direction> = { _IO: 'none', _IOR: 'out', _IOW: 'in', _IOWR: 'inout' };

function gccInclude(): string {
  return execFileSync('gcc', ['-print-file-name=include'], { encoding: 'utf8' }).trim();
}

function archTarget(dir: string): Target {
  return { abi: 'lp64', flags: ['-m64', '-nostdinc', '-isystem', dir, '-isystem', gccInclude()] };
}

function packageVersion(name: string): string {
  try {
    return execFileSync('dpkg-query', ['-W', '-f=${Version}', name], { encoding: 'utf8' }).trim();
  } catch {
    return 'unknown';
  }
}

export function loadSemantics(): Semantics {
  return JSON.parse(readFileSync(dataPath('kvm/semantics.json', 'schemas'), 'utf8')) as Semantics;
}

function structNamesIn(sem: Semantics, requests: RequestMacro[]): string[] {
  const names = new Set<string>([sem.runPage.type, ...sem.mappings.map((m) => m.type)]);
  for (const r of requests) {
    const t = r.typeText && typeOf(r.typeText);
    if (t && t.kind === 'struct') names.add(t.name);
    const argType = sem.ioctls[r.name]?.arg?.type;
    if (argType) names.add(argType);
  }
  for (const table of Object.values(sem.subtables)) {
    for (const e of table.entries) if (e.type && !SCALAR_TYPES[e.type]) names.add(e.type);
  }
  return [...names].sort();
}

function constantNames(sem: Semantics, macros: Map<string, string>, enumNames: Iterable<string>, requests: Set<string>): string[] {
  const names = new Set<string>();
  const wanted = (n: string) => sem.constantPrefixes.some((p) => n.startsWith(p)) && !requests.has(n);
  for (const [name, body] of macros) if (wanted(name) && !/^\w+\(/.test(name) && body !== '') names.add(name);
  for (const name of enumNames) if (wanted(name)) names.add(name);
  // Key names in sub-tables may come from another architecture's header.
  for (const table of Object.values(sem.subtables)) {
    for (const e of table.entries) for (const v of Object.values(e.key)) if (typeof v === 'string' && /^[A-Z][A-Z0-9_]+$/.test(v)) names.add(v);
  }
  return [...names].sort();
}

interface Measured {
  byAbi: Map<Abi, Measurement>;
  /** Per architecture, for requests and constants x86 does not define. */
  byArch: Map<string, Measurement>;
}

function measureAll(targets: Target[], requests: RequestMacro[], constants: string[], structs: string[]): Measured {
  const probes: Probe[] = [
    ...requests.map((r) => ({ name: `R_${r.name}`, expr: r.name })),
    ...constants.map((c) => ({ name: `C_${c}`, expr: c })),
  ];
  const byAbi = new Map<Abi, Measurement>();
  for (const target of targets) byAbi.set(target.abi, measure(target, [HEADER], probes, structs));
  const lp64 = byAbi.get('lp64')!;
  const missing = probes.filter((p) => !lp64.values.has(p.name));
  const missingStructs = structs.filter((s) => !lp64.types.has(s));
  const byArch = new Map<string, Measurement>();
  for (const { arch, dir } of ARCH_HEADERS) {
    if (!existsSync(`${dir}/asm/kvm.h`) || missing.length === 0) continue;
    byArch.set(arch, measure(archTarget(dir), [HEADER], missing, missingStructs));
  }
  return { byAbi, byArch };
}

function sizeOfNumber(n: number): number {
  return (n >>> 16) & 0x3fff;
}

export function generateKvm(): SchemaSet {
  const sem = loadSemantics();
  const macros = macroNames(X86_TARGETS[0], [HEADER]);
  const requests = requestMacros(macros);
  const requestNames = new Set(requests.map((r) => r.name));
  // A first pass for the enumerator names (KVM_SEV_* exist only as enum members, not macros).
  const enumPass = measure(X86_TARGETS[0], [HEADER], [], []);
  const constants = constantNames(sem, macros, enumNamesOf(enumPass), requestNames);
  const structs = structNamesIn(sem, requests);
  const defines = Object.entries(sem.defines).map(([k, v]) => `-D${k}=${v}`);
  const measured = measureAll(X86_TARGETS.map((t) => ({ ...t, flags: [...t.flags, ...defines] })), requests, constants, structs);

  const constantValues: Record<string, number> = {};
  const constantArch: Record<string, string> = {};
  for (const c of constants) {
    const v = measured.byAbi.get('lp64')!.values.get(`C_${c}`);
    if (v !== undefined) constantValues[c] = v;
    else {
      for (const [arch, m] of measured.byArch) {
        const av = m.values.get(`C_${c}`);
        if (av !== undefined) { constantValues[c] = av; constantArch[c] = arch; break; }
      }
    }
  }

  const types: Partial<Record<Abi, Record<string, Layout>>> = {};
  for (const [abi, m] of measured.byAbi) types[abi] = m.types.layouts(structs);
  for (const m of measured.byArch.values()) {
    // Types only another architecture defines are laid out by its 64-bit headers.
    for (const [name, layout] of Object.entries(m.types.layouts(structs))) types.lp64![name] ??= layout;
  }

  const ioctls = requests.map((r) => ioctlSchema(r, sem, measured, types));
  attachFlexCounts(ioctls, types);

  const subtables: Record<string, Subtable> = {};
  for (const [name, table] of Object.entries(sem.subtables)) {
    subtables[name] = { name, keyFields: table.keyFields, entries: table.entries.map((e) => subtableEntry(e, constantValues, types)) };
  }

  const exits = Object.entries(constantValues)
    .filter(([n]) => /^KVM_EXIT_[A-Z0-9_]+$/.test(n) && !n.startsWith('KVM_EXIT_IO_') && !n.startsWith('KVM_EXIT_HYPERV_') && !n.startsWith('KVM_EXIT_XEN_'))
    .map(([name, value]) => ({ name, value, ...(sem.runPage.members[name] ? { member: sem.runPage.members[name] } : {}) }))
    .sort((a, b) => a.value - b.value);

  return {
    id: 'kvm-linux',
    family: 'kvm',
    description: 'KVM on Linux x86 (/dev/kvm), from the system uapi headers; other architectures\' requests from their cross headers',
    source: {
      header: HEADER,
      'linux-libc-dev': packageVersion('linux-libc-dev'),
      compiler: compilerVersion(),
      crossHeaders: ARCH_HEADERS.filter((a) => measured.byArch.has(a.arch)).map((a) => `${a.arch}:${a.dir}`).join(' '),
    },
    abis: ['lp64', 'ilp32'],
    numbering: 'linux',
    objects: sem.objects,
    ioctls,
    types,
    subtables,
    constants: sortKeys(constantValues),
    deviceTypes: Object.fromEntries(Object.entries(constantValues).filter(([n]) => n.startsWith('KVM_DEV_TYPE_') && n !== 'KVM_DEV_TYPE_MAX').map(([n, v]) => [deviceName(n), v])),
    runPage: { type: sem.runPage.type, reasonField: sem.runPage.reasonField, exits },
    mappings: sem.mappings.map((m) => mappedPage(m, constantValues)),
    protocol: sem.protocol,
  };
}

function mappedPage(m: Semantics['mappings'][number], constants: Record<string, number>): MappedPage {
  const value = (v: number | string) => {
    if (typeof v === 'number') return v;
    if (constants[v] === undefined) throw new Error(`mapping of ${m.type}: no header defines ${v}`);
    return constants[v];
  };
  const out: MappedPage = { object: m.object, pageOffset: value(m.pageOffset), type: m.type };
  if (m.tail) out.tail = { field: m.tail.field, count: value(m.tail.count) };
  if (m.notes) out.notes = m.notes;
  return out;
}

function enumNamesOf(m: Measurement): string[] {
  return [...m.enumerators.keys()];
}

function ioctlSchema(r: RequestMacro, sem: Semantics, measured: Measured, types: Partial<Record<Abi, Record<string, Layout>>>): IoctlSchema {
  const s = sem.ioctls[r.name] ?? {};
  const numbers: Partial<Record<Abi, number>> = {};
  const sizes: Partial<Record<Abi, number>> = {};
  let arch = s.arch;
  for (const [abi, m] of measured.byAbi) {
    const v = m.values.get(`R_${r.name}`);
    if (v !== undefined) { numbers[abi] = v >>> 0; sizes[abi] = sizeOfNumber(v); }
  }
  if (numbers.lp64 === undefined) {
    for (const [a, m] of measured.byArch) {
      const v = m.values.get(`R_${r.name}`);
      if (v !== undefined) { numbers.lp64 = v >>> 0; sizes.lp64 = sizeOfNumber(v); arch ??= a; break; }
    }
  }
  const notes = [...(s.notes ?? [])];
  if (numbers.lp64 === undefined) notes.push(`its argument type (${r.typeText}) is defined by no header at hand, so no compiler can number it`);
  const on = s.on ?? sem.onByNr.find((b) => r.nr >= b.from && r.nr <= b.to)?.on ?? ['system'];
  const schema: IoctlSchema = {
    name: r.name,
    family: 'kvm',
    on,
    encoding: { numbering: 'linux', dir: r.dir, type: 0xae, nr: r.nr },
    numbers,
    sizes,
    arg: argSpec(r, s.arg, types),
    returns: s.returns ?? { kind: 'zero' },
  };
  if (s.capability) schema.capability = s.capability;
  if (s.multiplex) schema.multiplex = s.multiplex;
  if (s.run) schema.run = true;
  if (arch) schema.arch = arch;
  if (notes.length > 0) schema.notes = notes;
  return schema;
}

function argSpec(r: RequestMacro, s: SemanticArg | undefined, types: Partial<Record<Abi, Record<string, Layout>>>): ArgSpec {
  if (s?.kind === 'value') return { kind: 'value', ...(s.meaning ? { meaning: s.meaning } : {}), ...(s.names ? { names: s.names } : {}) };
  const typeText = s?.type ?? r.typeText;
  if (!typeText) return { kind: 'none' };
  const type = typeOf(typeText);
  const spec: ArgSpec = { kind: 'pointer', type, dir: s?.dir ?? DIR_OF_IOC[r.dir] };
  if (s?.fieldDirs) spec.fieldDirs = s.fieldDirs;
  if (s?.lengthField) spec.lengthField = s.lengthField;
  if (s?.tail) {
    const layout = type.kind === 'struct' ? types.lp64?.[type.name] : undefined;
    const flex = layout?.fields.find((f) => f.name === s.tail!.field);
    if (!flex || flex.type.kind !== 'flex') throw new Error(`${r.name}: tail field ${s.tail.field} is not a flexible array of ${typeText}`);
    spec.tail = { ...s.tail, element: flex.type.element };
  }
  if (s?.pointers) spec.pointers = s.pointers.map((p): PointerRule => ({ ...p }));
  return spec;
}

/** Flexible array members learn their count field from the tails that use them (every family). */
export function attachFlexCounts(ioctls: IoctlSchema[], types: Partial<Record<Abi, Record<string, Layout>>>): void {
  for (const io of ioctls) {
    const arg = io.arg;
    if (arg.kind !== 'pointer' || !arg.tail || arg.type.kind !== 'struct') continue;
    for (const layouts of Object.values(types)) {
      const field = layouts?.[arg.type.name]?.fields.find((f) => f.name === arg.tail!.field);
      if (field && field.type.kind === 'flex') field.type.countField = arg.tail.countField;
    }
  }
}

function subtableEntry(e: SemanticEntry, constants: Record<string, number>, types: Partial<Record<Abi, Record<string, Layout>>>): SubtableEntry {
  const key: Record<string, number | string> = {};
  for (const [k, v] of Object.entries(e.key)) {
    if (typeof v === 'number' || v === '*') key[k] = v;
    else if (k === 'device' && v.startsWith('KVM_DEV_TYPE_')) key[k] = deviceName(v);
    else if (k === 'device') key[k] = v;
    else if (constants[v] !== undefined) key[k] = constants[v];
    else throw new Error(`sub-table entry ${e.name}: no header defines ${v}`);
  }
  const out: SubtableEntry = { key, name: e.name, size: e.size ?? 0 };
  if (e.type) {
    const type = typeOf(e.type);
    out.type = type;
    out.size = type.kind === 'scalar' ? scalarSize(type.scalar) : (types.lp64?.[e.type]?.size ?? 0);
    if (type.kind === 'struct' && !types.lp64?.[e.type]) throw new Error(`sub-table entry ${e.name}: struct ${e.type} is not defined`);
  }
  if (e.dir) out.dir = e.dir;
  if (e.sizeFrom) out.sizeFrom = e.sizeFrom;
  if (e.arch) out.arch = e.arch;
  if (e.notes) out.notes = e.notes;
  return out;
}

/** `KVM_DEV_TYPE_ARM_VGIC_V3` is `arm-vgic-v3` in object paths and reports. */
export function deviceName(constant: string): string {
  return constant.replace(/^KVM_DEV_TYPE_/, '').toLowerCase().replace(/_/g, '-');
}

function scalarSize(s: string): number {
  return s.endsWith('8') ? 1 : s.endsWith('16') ? 2 : s.endsWith('32') ? 4 : 8;
}

function sortKeys<T>(o: Record<string, T>): Record<string, T> {
  return Object.fromEntries(Object.entries(o).sort(([a], [b]) => a.localeCompare(b)));
}
