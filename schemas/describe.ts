// Human-readable answers about request numbers and types, shared by `decode`, `schemas show` and
// the checker's messages.

import type { Abi, IoctlSchema, Numbering, SchemaSet, TypeRef } from './model.js';
import { bsdDecode, ctlCodeDecode, iocDecode, hex } from './ioc.js';
import { layoutOf, type Candidate, type SchemaRegistry } from './registry.js';
import { typeSize } from './codec.js';

export const ABI_NAMES: Record<Abi, string> = { lp64: 'x86_64', ilp32: 'i386', llp64: 'Windows x64' };

/** The constant of `prefix` whose value is `value` (KVM_CAP_USER_MEMORY for 3), if one is. */
export function constantName(set: SchemaSet, prefix: string, value: number): string | undefined {
  for (const [name, v] of Object.entries(set.constants)) if (v === value && name.startsWith(prefix)) return name;
  return undefined;
}

export function typeName(type: TypeRef): string {
  switch (type.kind) {
    case 'scalar': return type.scalar;
    case 'struct': return `struct ${type.name}`;
    case 'array': return `${typeName(type.element)}[${type.count}]`;
    case 'flex': return `${typeName(type.element)}[${type.countField}]`;
    case 'bytes': return 'bytes';
  }
}

function joinAbis(abis: Abi[]): string {
  const names = abis.map((a) => ABI_NAMES[a]);
  return names.length <= 1 ? names.join('') : `${names.slice(0, -1).join(', ')} and ${names[names.length - 1]}`;
}

/** "struct kvm_regs is 144 on x86_64 and i386" (or per-ABI sizes where they differ). */
export function argSizeSentence(set: SchemaSet, ioctl: IoctlSchema): string {
  const arg = ioctl.arg;
  const what = arg.kind === 'pointer' ? typeName(arg.type) : 'the argument';
  const bySize = new Map<number, Abi[]>();
  for (const abi of set.abis) {
    const size = ioctl.sizes[abi];
    if (size === undefined) continue;
    const real = arg.kind === 'pointer' ? typeSize(set, abi, arg.type) || size : size;
    bySize.set(real, [...(bySize.get(real) ?? []), abi]);
  }
  return `${what} is ${[...bySize].map(([size, abis]) => `${size} on ${joinAbis(abis)}`).join(', ')}`;
}

export interface Meaning {
  request: number;
  parts: ReturnType<typeof iocDecode>;
  matches: Candidate[];
  /** The matches grouped: one entry per distinct ioctl (name and objects), with the sets that define it. */
  groups: MeaningGroup[];
  /** One line per near match: same type and nr, another size or direction. */
  near: string[];
  families: string[];
}

export interface MeaningGroup {
  name: string;
  on: string[];
  /** Every (set, ABI) that gives the number this meaning. */
  candidates: Candidate[];
}

/** "Linux", "Darwin and NetBSD": the systems of the sets. */
function osList(sets: SchemaSet[]): string[] {
  const out: string[] = [];
  for (const set of sets) for (const os of set.os ?? ['Linux']) if (!out.includes(os)) out.push(os);
  return out;
}

function andList(items: string[]): string {
  return items.length <= 1 ? items.join('') : `${items.slice(0, -1).join(', ')} and ${items[items.length - 1]}`;
}

const ORIGIN_TEXT: Record<string, string> = { monitor: "a monitor's copy", proposal: 'an unmerged proposal', history: 'a replaced interface', import: 'imported' };

export function meaningOf(registry: SchemaRegistry, request: number): Meaning {
  const parts = iocDecode(request);
  const matches = registry.candidates(request);
  const groups: MeaningGroup[] = [];
  for (const c of matches) {
    const key = `${c.ioctl.name}\0${c.ioctl.on.join(',')}`;
    const g = groups.find((x) => `${x.name}\0${x.on.join(',')}` === key);
    if (g) g.candidates.push(c);
    else groups.push({ name: c.ioctl.name, on: c.ioctl.on, candidates: [c] });
  }
  const near: string[] = [];
  if (matches.length === 0) {
    const seen = new Set<string>();
    for (const c of registry.nearMatches(request)) {
      if (seen.has(c.ioctl.name)) continue;
      seen.add(c.ioctl.name);
      const e = c.ioctl.encoding;
      const how = e.dir !== parts.dir ? `direction ${parts.dir} (it is ${e.dir})` : `size ${parts.size}`;
      near.push(`${c.ioctl.name} with ${how}; ${argSizeSentence(c.set, c.ioctl)}`);
    }
  }
  return { request, parts, matches, groups, near, families: registry.familiesOfType(parts.type) };
}

/** The parts of a number under one numbering, as `decode` prints them. */
export function partsText(numbering: Numbering, request: number): string {
  if (numbering === 'windows') {
    const c = ctlCodeDecode(request);
    const method = ['METHOD_BUFFERED', 'METHOD_IN_DIRECT', 'METHOD_OUT_DIRECT', 'METHOD_NEITHER'][c.method];
    const access = ['FILE_ANY_ACCESS', 'FILE_READ_ACCESS', 'FILE_WRITE_ACCESS', 'FILE_READ_ACCESS|FILE_WRITE_ACCESS'][c.access];
    return `CTL_CODE device type ${hex(c.deviceType)} function ${hex(c.function)} ${method} ${access} (Windows)`;
  }
  const p = numbering === 'bsd' ? bsdDecode(request) : iocDecode(request);
  return `${p.dir} type ${hex(p.type)} nr ${hex(p.nr)} size ${p.size} (${numbering === 'bsd' ? 'BSD _IOC' : 'Linux _IOC'})`;
}

/** Where an object kind is opened, in the sets given: `/dev/HAX`, `\\.\HAX`. */
function objectPaths(sets: SchemaSet[], kinds: string[]): string[] {
  const out: string[] = [];
  for (const set of sets) {
    for (const o of set.objects) if (kinds.includes(o.name)) for (const p of o.paths ?? []) if (!out.includes(p)) out.push(p);
  }
  return out;
}

function onText(group: MeaningGroup): string {
  const sets = [...new Set(group.candidates.map((c) => c.set))];
  const paths = objectPaths(sets, group.on);
  return `${group.on.join(', ')}${paths.length > 0 ? ` (${paths.join(', ')})` : ''}`;
}

/** The text `ioctlgrind decode` prints. */
export function describeRequest(registry: SchemaRegistry, request: number): string {
  const m = meaningOf(registry, request);
  const lines: string[] = [];
  const p = m.parts;
  const partText = `${p.dir} type ${hex(p.type)} nr ${hex(p.nr)} size ${p.size}`;
  const r = hex(request >>> 0);
  if (m.matches.length === 0) {
    lines.push(`${r}: no schema matches`);
    lines.push(`  parts     ${partText} (Linux _IOC)`);
    const bsd = bsdDecode(request);
    if (bsd.dir !== 'none') lines.push(`  bsd       ${partsText('bsd', request)}: Darwin, NetBSD`);
    const ctl = ctlCodeDecode(request);
    const ctlFamilies = registry.familiesOfDeviceType(ctl.deviceType);
    if (ctlFamilies.length > 0) lines.push(`  windows   ${partsText('windows', request)}: device type ${hex(ctl.deviceType)} belongs to ${ctlFamilies.join(', ')}`);
    lines.push(`  type      ${m.families.length > 0 ? `${hex(p.type)} belongs to ${m.families.join(', ')}` : `no known family uses type ${hex(p.type)}`}`);
    for (const n of m.near) lines.push(`  near      ${n}`);
    return lines.join('\n');
  }
  if (m.groups.length > 1) {
    const distinctObjects = new Set(m.groups.map((g) => `${g.candidates[0].set.family}/${g.on.join(',')}`)).size === m.groups.length;
    lines.push(`${r} has ${m.groups.length} meanings; ${distinctObjects ? 'the object it is issued on picks one' : 'the object and the schema set (system, header, numbering) pick one'}:`);
    for (const g of m.groups) {
      const sets = [...new Set(g.candidates.map((c) => c.set))];
      lines.push(`  ${g.name} on ${onText(g)} [${andList(osList(sets))}: ${sets.map((s) => s.id).join(', ')}]`);
    }
    lines.push('');
  }
  m.groups.forEach((g, i) => {
    if (i > 0) lines.push('');
    const sets = [...new Set(g.candidates.map((c) => c.set))];
    const { set, ioctl } = g.candidates[0];
    const abis = [...new Set(g.candidates.map((c) => c.abi))];
    lines.push(`${r}: ${ioctl.name} on ${onText(g)} (${andList(osList(sets))}${ioctl.arch ? `, ${ioctl.arch} only` : ''})`);
    lines.push(`  sets      ${sets.map((s) => `${s.id}${s.origin && ORIGIN_TEXT[s.origin] ? ` (${ORIGIN_TEXT[s.origin]})` : ''}`).join(', ')}`);
    const numberings = [...new Set(sets.map((s) => s.numbering))];
    for (const numbering of numberings) {
      const label = numberings.length > 1 ? ' (Linux _IOC)' : '';
      lines.push(`  encoding  ${numbering === 'linux' ? `${partText}${label}${ioctl.encoding.noneWithSize ? ' (_IOC_NONE with a size: the bits give no direction)' : ''}` : partsText(numbering, request)}`);
    }
    const buffers = g.candidates.map((c) => c.ioctl.buffers?.[c.abi]).find((b) => b !== undefined);
    if (buffers) lines.push(`  buffers   in ${buffers.in}, out ${buffers.out} (DeviceIoControl lengths)`);
    lines.push(`  argument  ${argText(set, abis[0], ioctl)}`);
    lines.push(`  fd kind   ${ioctl.on.join(', ')}`);
    lines.push(`  abi       ${abis.map((a) => ABI_NAMES[a]).join(', ')}`);
    lines.push(`  returns   ${returnText(ioctl)}`);
    if (ioctl.capability) lines.push(`  needs     ${ioctl.capability}`);
    if (ioctl.multiplex) lines.push(`  payload   chosen by the ${ioctl.multiplex} sub-table`);
    const notes: string[] = [];
    for (const c of g.candidates) for (const n of c.ioctl.notes ?? []) if (!notes.includes(n)) notes.push(n);
    for (const n of notes) lines.push(`  note      ${n}`);
  });
  return lines.join('\n');
}

function argText(set: SchemaSet, abi: Abi, ioctl: IoctlSchema): string {
  const arg = ioctl.arg;
  if (arg.kind === 'none') return 'none';
  if (arg.kind === 'value') return `a value${arg.meaning ? `: ${arg.meaning}` : ''}`;
  const size = arg.type.kind === 'struct' ? layoutOf(set, abi, arg.type.name)?.size : typeSize(set, abi, arg.type);
  const parts = [`${typeName(arg.type)} (${arg.dir}${size !== undefined ? `, ${size} bytes` : ''})`];
  if (arg.tail) parts.push(`tail ${arg.tail.field}[${arg.tail.countField}] ${arg.tail.dir}`);
  for (const p of arg.pointers ?? []) parts.push(`pointer ${p.field} -> ${p.dir}`);
  return parts.join('; ');
}

function returnText(ioctl: IoctlSchema): string {
  const r = ioctl.returns;
  switch (r.kind) {
    case 'zero': return '0';
    case 'count': return 'a count';
    case 'value': return r.meaning ?? 'a value';
    case 'fd': return `an fd of a ${r.object}${r.field ? ` (written to ${r.field})` : ''}`;
  }
}

/** `schemas show`: the fields of a type with offsets, sizes and, for an ioctl, directions. */
export function describeType(set: SchemaSet, abi: Abi, name: string): string | undefined {
  const layout = layoutOf(set, abi, name);
  if (!layout) return undefined;
  const lines = [`${layout.union ? 'union' : 'struct'} ${layout.name}: ${layout.size} bytes on ${ABI_NAMES[abi]}, aligned ${layout.align}`];
  for (const f of layout.fields) {
    const bits = f.bits ? ` bits ${f.bits.shift}..${f.bits.shift + f.bits.width - 1}` : '';
    lines.push(`  ${String(f.offset).padStart(5)}  ${String(f.size).padStart(5)}  ${f.name || '(anonymous)'}: ${typeName(f.type)}${bits}`);
  }
  return lines.join('\n');
}

export function describeIoctl(set: SchemaSet, abi: Abi, ioctl: IoctlSchema): string {
  const n = ioctl.numbers[abi];
  const lines = [`${ioctl.name} (${set.id}) on ${ABI_NAMES[abi]}: ${n === undefined ? 'not defined' : hex(n)}`];
  if (n !== undefined && set.numbering !== 'linux') lines.push(`  encoding  ${partsText(set.numbering, n)}`);
  const buffers = ioctl.buffers?.[abi];
  if (buffers) lines.push(`  buffers   in ${buffers.in}, out ${buffers.out} (DeviceIoControl lengths)`);
  lines.push(`  argument  ${argText(set, abi, ioctl)}`);
  lines.push(`  fd kind   ${ioctl.on.join(', ')}`);
  lines.push(`  returns   ${returnText(ioctl)}`);
  const arg = ioctl.arg;
  if (arg.kind === 'pointer' && arg.type.kind === 'struct') {
    const layout = layoutOf(set, abi, arg.type.name);
    for (const f of layout?.fields ?? []) {
      const dir = arg.fieldDirs?.[f.name] ?? (arg.tail?.field === f.name ? arg.tail.dir : arg.dir);
      lines.push(`  ${String(f.offset).padStart(5)}  ${String(f.size).padStart(5)}  ${(f.name || '(anonymous)').padEnd(20)} ${dir.padEnd(6)} ${typeName(f.type)}`);
    }
  }
  return lines.join('\n');
}
