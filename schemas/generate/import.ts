// `ioctlgrind schemas import`: a schema set from the C headers of a user's own driver, laid out by the
// real compiler. The requests are the `#define X _IO*(...)` macros of those headers (read through
// `gcc -E -dD`, so wrapper macros and includes are followed); the compiler folds their numbers, the
// constants and the argument structs per ABI. Directions default to the _IOC bits, which is all a header
// says: the set notes it, and the user can edit the JSON where the driver does otherwise.

import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import type { Abi, ArgSpec, Direction, Family, IocDir, IoctlSchema, Layout, SchemaSet, TypeRef } from '../model.js';
import { iocDecode } from '../ioc.js';
import { compilerVersion, measure, type Measurement, type Probe, type Target } from './compiler.js';
import { cTypeRef, encodingOf } from './family.js';

export class ImportError extends Error {}

export interface ImportOptions {
  headers: string[];
  /** lp64 and/or ilp32 (Linux _IOC numbering). */
  abis: Abi[];
  family: string;
  /** The set's id (default: the family). */
  id?: string;
  /** Extra include folders (the headers' own folders are always searched). */
  includeDirs?: string[];
  /** Device paths that open the driver (`/dev/mydrv`), for the object graph. */
  devices?: string[];
}

export interface ImportResult {
  set: SchemaSet;
  /** What the user should know: requests the compiler could not number, defaulted directions. */
  warnings: string[];
}

interface Macro {
  params?: string[];
  body: string;
  file: string;
}

const IOC_MACROS = new Set(['_IO', '_IOR', '_IOW', '_IOWR', '_IOC']);
const DIR_OF_IOC: Record<IocDir, Direction> = { _IO: 'none', _IOR: 'out', _IOW: 'in', _IOWR: 'inout' };

function flagsFor(abi: Abi): string[] {
  if (abi === 'lp64') return ['-m64'];
  if (abi === 'ilp32') return ['-m32'];
  throw new ImportError(`import reads Linux _IOC requests: --abi takes lp64 and ilp32, not ${abi}`);
}

/** The first line of gcc's output that reports an error (else its first line). */
function firstError(stderr: string): string {
  const lines = stderr.split('\n').map((l) => l.trim()).filter((l) => l !== '');
  return lines.find((l) => /\berror\b/.test(l)) ?? lines[0] ?? 'gcc failed';
}

/** Every macro defined, with the file that defined it (from the line markers of `gcc -E -dD`). */
function definedMacros(flags: string[], headers: string[]): Map<string, Macro> {
  const src = headers.map((h) => `#include "${h}"`).join('\n') + '\n';
  const r = spawnSync('gcc', [...flags, '-E', '-dD', '-x', 'c', '-'], { input: src, encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new ImportError(`the headers do not preprocess: ${firstError(r.stderr)}`);
  const macros = new Map<string, Macro>();
  let file = '';
  for (const line of r.stdout.split('\n')) {
    const marker = /^# \d+ "([^"]+)"/.exec(line);
    if (marker) { file = marker[1]; continue; }
    const m = /^#define (\w+)(\(([^)]*)\))?(?:\s+(.*))?$/.exec(line);
    if (!m) continue;
    const macro: Macro = { body: (m[4] ?? '').trim(), file };
    if (m[2] !== undefined) macro.params = m[3].split(',').map((p) => p.trim()).filter((p) => p !== '');
    macros.set(m[1], macro);
  }
  return macros;
}

/** Splits macro arguments at top-level commas. */
function splitArgs(text: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let cur = '';
  for (const ch of text) {
    if (ch === '(' || ch === '[' || ch === '{') depth++;
    if (ch === ')' || ch === ']' || ch === '}') depth--;
    if (ch === ',' && depth === 0) { out.push(cur.trim()); cur = ''; continue; }
    cur += ch;
  }
  if (cur.trim() !== '') out.push(cur.trim());
  return out;
}

/** Strips one pair of parentheses around the whole text. */
function unwrap(text: string): string {
  let t = text.trim();
  while (t.startsWith('(') && t.endsWith(')')) {
    let depth = 0;
    let closesAtEnd = true;
    for (let i = 0; i < t.length; i++) {
      if (t[i] === '(') depth++;
      if (t[i] === ')') depth--;
      if (depth === 0 && i < t.length - 1) { closesAtEnd = false; break; }
    }
    if (!closesAtEnd) break;
    t = t.slice(1, -1).trim();
  }
  return t;
}

/** Follows aliases and wrapper macros down to an `_IO*(...)` call: the macro used and its arguments. */
function requestForm(body: string, macros: Map<string, Macro>, depth = 0): { macro: string; args: string[] } | undefined {
  if (depth > 8) return undefined;
  const t = unwrap(body);
  const call = /^(\w+)\s*\(([\s\S]*)\)$/.exec(t);
  if (call) {
    const [, name, argText] = call;
    const args = splitArgs(argText);
    if (IOC_MACROS.has(name)) return { macro: name, args };
    const m = macros.get(name);
    if (!m?.params || m.params.length !== args.length) return undefined;
    let expanded = m.body;
    m.params.forEach((p, i) => { expanded = expanded.replace(new RegExp(`\\b${p}\\b`, 'g'), args[i]); });
    return requestForm(expanded, macros, depth + 1);
  }
  const alias = /^\w+$/.test(t) ? macros.get(t) : undefined;
  if (alias && !alias.params) return requestForm(alias.body, macros, depth + 1);
  return undefined;
}

/** The argument type a request names: `_IOW(t, n, TYPE)`, or `_IOC(d, t, n, sizeof(TYPE))`. */
function typeTextOf(form: { macro: string; args: string[] }): string | undefined {
  if (form.macro === '_IO') return undefined;
  if (form.macro === '_IOC') {
    const m = /^sizeof\s*\(([\s\S]*)\)$/.exec(unwrap(form.args[3] ?? ''));
    return m ? m[1].trim() : undefined;
  }
  return form.args[2];
}

export function importHeaders(opts: ImportOptions): ImportResult {
  if (opts.headers.length === 0) throw new ImportError('name at least one header');
  if (opts.abis.length === 0) throw new ImportError('name at least one ABI (--abi lp64,ilp32)');
  const headers = opts.headers.map((h) => resolve(h));
  for (const h of headers) if (!existsSync(h)) throw new ImportError(`${h}: no such header`);
  const includeFlags = [...new Set([...headers.map((h) => dirname(h)), ...(opts.includeDirs ?? []).map((d) => resolve(d))])].flatMap((d) => ['-I', d]);
  const targets: Target[] = opts.abis.map((abi) => ({ abi, flags: [...flagsFor(abi), ...includeFlags] }));

  // Each header alone must compile for each ABI: the error names the header and gcc's first error.
  for (const t of targets) {
    for (const h of headers) {
      const r = spawnSync('gcc', [...t.flags, '-fsyntax-only', '-x', 'c', h], { encoding: 'utf8' });
      if (r.status !== 0) throw new ImportError(`${h} does not compile (${t.abi}): ${firstError(r.stderr)}`);
    }
  }

  const macros = definedMacros(targets[0].flags, headers);
  const own = new Set(headers);
  const requests: { name: string; macro: string; typeText?: string }[] = [];
  const constants: string[] = [];
  for (const [name, m] of macros) {
    if (!own.has(resolve(m.file)) || m.params) continue;
    const form = requestForm(m.body, macros);
    if (form) requests.push({ name, macro: form.macro, typeText: typeTextOf(form) });
    else if (m.body !== '' && !name.startsWith('_')) constants.push(name);
  }
  if (requests.length === 0) throw new ImportError(`no _IO/_IOR/_IOW/_IOWR/_IOC request macro in ${headers.map((h) => basename(h)).join(', ')}`);

  const structs = new Set<string>();
  for (const r of requests) {
    if (!r.typeText) continue;
    const t = cTypeRef(r.typeText);
    if (t.kind === 'struct' && /^struct\s/.test(r.typeText.replace(/\bconst\b/g, '').trim())) structs.add(t.name);
  }
  const probes: Probe[] = [
    ...requests.map((r) => ({ name: `R_${r.name}`, expr: r.name })),
    ...constants.map((c) => ({ name: `C_${c}`, expr: c })),
  ];
  const byAbi = new Map<Abi, Measurement>();
  for (const t of targets) {
    try {
      byAbi.set(t.abi, measure(t, headers, probes, [...structs].sort()));
    } catch (e) {
      // A request macro that only fails where it is used: name the header line gcc blames.
      const parts = (e as Error).message.split(/ \| |\n/);
      const blamed = parts.find((p) => /error:/.test(p) && headers.some((h) => p.includes(h))) ?? parts.find((p) => /error:/.test(p)) ?? parts[0];
      throw new ImportError(`${headers.map((h) => basename(h)).join(', ')} does not compile (${t.abi}) where its requests are used: ${blamed.replace(/^.*?failed: /, '').trim()}`);
    }
  }
  const types: Partial<Record<Abi, Record<string, Layout>>> = {};
  for (const [abi, m] of byAbi) types[abi] = m.types.layouts([...structs].sort());

  const warnings: string[] = [];
  const first = targets[0].abi;
  const ioctls: IoctlSchema[] = [];
  for (const r of requests) {
    const numbers: Partial<Record<Abi, number>> = {};
    const sizes: Partial<Record<Abi, number>> = {};
    for (const [abi, m] of byAbi) {
      const v = m.values.get(`R_${r.name}`);
      if (v === undefined) continue;
      numbers[abi] = v >>> 0;
      sizes[abi] = iocDecode(v).size;
    }
    const n = numbers[first] ?? Object.values(numbers)[0];
    if (n === undefined) {
      warnings.push(`${r.name}: the compiler could not number it (is its argument type declared?); left out`);
      continue;
    }
    const encoding = encodingOf('linux', n);
    const notes: string[] = [];
    let arg: ArgSpec;
    let type: TypeRef | undefined = r.typeText ? cTypeRef(r.typeText) : undefined;
    if (type?.kind === 'struct' && !structs.has(type.name)) type = undefined;
    if (type?.kind === 'struct' && !types[first]?.[type.name]) type = { kind: 'bytes' };
    if (encoding.dir === '_IO' && !encoding.noneWithSize) {
      arg = { kind: 'none' };
      notes.push('_IO: the number carries no argument; if the driver reads the argument as a value or a pointer, say so in this file');
    } else {
      const dir: Direction = encoding.noneWithSize ? 'inout' : DIR_OF_IOC[encoding.dir!];
      arg = { kind: 'pointer', type: type ?? { kind: 'bytes' }, dir };
      notes.push(encoding.noneWithSize
        ? '_IOC_NONE with a size: the bits give no direction, so the argument is taken as read and written; correct it in this file'
        : `direction from the _IOC bits (${encoding.dir}), not checked against the driver`);
      if (!type || type.kind === 'bytes') notes.push(`argument ${r.typeText ?? '(untyped)'} is not a struct the compiler could lay out: its bytes stay opaque`);
    }
    for (const abi of opts.abis) if (numbers[abi] === undefined) notes.push(`no number on ${abi}: the compiler rejected it there`);
    ioctls.push({
      name: r.name,
      family: opts.family as Family,
      on: ['device'],
      encoding,
      numbers,
      sizes,
      arg,
      returns: { kind: 'zero' },
      notes,
    });
  }
  ioctls.sort((x, y) => (x.encoding.type ?? 0) - (y.encoding.type ?? 0) || (x.encoding.nr ?? 0) - (y.encoding.nr ?? 0) || x.name.localeCompare(y.name));
  warnings.push('directions come from the _IOC bits of each request; where the driver reads or writes otherwise, edit arg.dir and arg.fieldDirs in the JSON');

  const constantValues: Record<string, number> = {};
  for (const c of constants.sort()) {
    const v = byAbi.get(first)!.values.get(`C_${c}`);
    if (v !== undefined) constantValues[c] = v;
  }
  const set: SchemaSet = {
    id: opts.id ?? opts.family,
    family: opts.family as Family,
    description: `imported from ${headers.map((h) => basename(h)).join(', ')}`,
    source: {
      headers: headers.join(' '),
      compiler: compilerVersion(),
      imported: 'ioctlgrind schemas import: numbers and layouts by the compiler, directions from the _IOC bits',
    },
    os: ['Linux'],
    origin: 'import',
    abis: opts.abis,
    numbering: 'linux',
    objects: [opts.devices && opts.devices.length > 0 ? { name: 'device', paths: opts.devices } : { name: 'device' }],
    ioctls,
    types,
    subtables: {},
    constants: constantValues,
    notes: ['directions are the _IOC bits\' (or unknown for _IOC_NONE): not checked against the driver'],
  };
  return { set, warnings };
}
