// Human-readable answers about request numbers and types, shared by `decode`, `schemas show` and
// the checker's messages.

import type { Abi, IoctlSchema, SchemaSet, TypeRef } from './model.js';
import { iocDecode, hex } from './ioc.js';
import { layoutOf, type Candidate, type SchemaRegistry } from './registry.js';
import { typeSize } from './codec.js';

export const ABI_NAMES: Record<Abi, string> = { lp64: 'x86_64', ilp32: 'i386', llp64: 'Windows x64' };

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
  /** One line per near match: same type and nr, another size or direction. */
  near: string[];
  families: string[];
}

export function meaningOf(registry: SchemaRegistry, request: number): Meaning {
  const parts = iocDecode(request);
  const matches = registry.candidates(request);
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
  return { request, parts, matches, near, families: registry.familiesOfType(parts.type) };
}

/** The text `ioctlgrind decode` prints. */
export function describeRequest(registry: SchemaRegistry, request: number): string {
  const m = meaningOf(registry, request);
  const lines: string[] = [];
  const p = m.parts;
  const partText = `${p.dir} type ${hex(p.type)} nr ${hex(p.nr)} size ${p.size}`;
  if (m.matches.length === 0) {
    lines.push(`${hex(request >>> 0)}: no schema matches`);
    lines.push(`  parts     ${partText} (Linux _IOC)`);
    lines.push(`  type      ${m.families.length > 0 ? `${hex(p.type)} belongs to ${m.families.join(', ')}` : `no known family uses type ${hex(p.type)}`}`);
    for (const n of m.near) lines.push(`  near      ${n}`);
    return lines.join('\n');
  }
  // One block per distinct meaning; the ABIs sharing it are listed together.
  const grouped = new Map<string, Candidate[]>();
  for (const c of m.matches) {
    const key = `${c.set.id}/${c.ioctl.name}`;
    grouped.set(key, [...(grouped.get(key) ?? []), c]);
  }
  for (const list of grouped.values()) {
    const { set, ioctl } = list[0];
    const abis = list.map((c) => c.abi);
    lines.push(`${hex(request >>> 0)}: ${ioctl.name} (${set.id}${ioctl.arch ? `, ${ioctl.arch} only` : ''})`);
    lines.push(`  encoding  ${partText}`);
    lines.push(`  argument  ${argText(set, abis[0], ioctl)}`);
    lines.push(`  fd kind   ${ioctl.on.join(', ')}`);
    lines.push(`  abi       ${abis.map((a) => ABI_NAMES[a]).join(', ')}`);
    lines.push(`  returns   ${returnText(ioctl)}`);
    if (ioctl.capability) lines.push(`  needs     ${ioctl.capability}`);
    if (ioctl.multiplex) lines.push(`  payload   chosen by the ${ioctl.multiplex} sub-table`);
    for (const n of ioctl.notes ?? []) lines.push(`  note      ${n}`);
  }
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
