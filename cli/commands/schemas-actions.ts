// What `ioctlgrind schemas` does, loaded only when it runs: list, show, diff and import.

import { existsSync, writeFileSync } from 'node:fs';
import { ABIS, type Abi, type SchemaSet } from '../../schemas/model.js';
import { ABI_NAMES, describeIoctl, describeType } from '../../schemas/describe.js';
import { diffSets, formatDiff } from '../../schemas/diff.js';
import { ImportError, importHeaders } from '../../schemas/generate/import.js';
import { serializeSet } from '../../schemas/generate/serialize.js';
import { hex } from '../../schemas/ioc.js';
import { loadSchemaPaths, SchemaError, SchemaRegistry } from '../../schemas/registry.js';
import { UserError } from '../user-error.js';

/** A set by id, or a set file (what `schemas import -o` wrote). */
function setNamed(name: string): SchemaSet {
  if (/\.json$/.test(name) || existsSync(name) && !SchemaRegistry.default().sets.some((s) => s.id === name)) {
    try {
      const sets = loadSchemaPaths([name]);
      if (sets.length !== 1) throw new UserError(`${name} holds ${sets.length} schema sets: name one file`);
      return sets[0];
    } catch (e) {
      if (e instanceof SchemaError) throw new UserError(e.message);
      throw e;
    }
  }
  try {
    return SchemaRegistry.default().set(name);
  } catch (e) {
    if (e instanceof SchemaError) throw new UserError(e.message);
    throw e;
  }
}

export function diff(a: string, b: string, json: boolean, abi?: string): void {
  const sa = setNamed(a);
  const sb = setNamed(b);
  let pairs: [Abi, Abi][] | undefined;
  if (abi) {
    const [x, y = x] = abi.split(':');
    for (const [v, s] of [[x, sa], [y, sb]] as const) {
      if (!s.abis.includes(v as Abi)) throw new UserError(`${s.id} has no ABI '${v}' (it has ${s.abis.join(', ')})`);
    }
    pairs = [[x as Abi, y as Abi]];
  }
  const d = diffSets(sa, sb, pairs);
  process.stdout.write(json ? JSON.stringify(d, null, 1) + '\n' : formatDiff(d) + '\n');
}

function parseAbis(text: string): Abi[] {
  const abis = text.split(',').map((a) => a.trim()).filter((a) => a !== '');
  for (const a of abis) if (!(ABIS as string[]).includes(a)) throw new UserError(`unknown ABI '${a}' (lp64, ilp32)`);
  return abis as Abi[];
}

export function importCommand(argv: { headers: string[]; abi: string; output?: string; family: string; id?: string; include?: string[]; device?: string[] }): void {
  let result;
  try {
    result = importHeaders({
      headers: argv.headers.map(String),
      abis: parseAbis(argv.abi),
      family: argv.family,
      id: argv.id,
      includeDirs: argv.include?.map(String),
      devices: argv.device?.map(String),
    });
  } catch (e) {
    if (e instanceof ImportError) throw new UserError(e.message);
    throw e;
  }
  const text = serializeSet(result.set);
  if (argv.output) writeFileSync(argv.output, text);
  else process.stdout.write(text);
  const where = argv.output ?? 'standard output';
  process.stderr.write(`ioctlgrind: ${where}: schema set ${result.set.id}, ${result.set.ioctls.length} ioctls on ${result.set.abis.join(', ')}\n`);
  for (const w of result.warnings) process.stderr.write(`ioctlgrind: note: ${w}\n`);
  if (argv.output) process.stderr.write(`ioctlgrind: load it with IOCTLGRIND_SCHEMAS=${argv.output} (a file or a folder of sets, separated by ':'), or --schemas ${argv.output}\n`);
}

export function list(): void {
  const registry = SchemaRegistry.default();
  for (const set of registry.sets) {
    const origin = set.origin && set.origin !== 'driver' ? `, ${set.origin}` : '';
    process.stdout.write(`${set.id}: ${set.description} (${set.ioctls.length} ioctls, ABIs ${set.abis.map((a) => ABI_NAMES[a]).join(', ')}${set.os ? `, ${set.os.join('/')}` : ''}${origin})\n`);
    for (const note of set.notes ?? []) process.stdout.write(`  note: ${note}\n`);
    for (const io of set.ioctls) {
      const n = io.numbers[set.abis[0]];
      const dir = io.encoding.numbering === 'windows' ? `fn ${hex(io.encoding.function ?? 0)}` : io.encoding.noneWithSize ? '_IOC_NONE' : (io.encoding.dir ?? '');
      process.stdout.write(`  ${(n === undefined ? '-' : hex(n)).padEnd(11)} ${io.name.padEnd(34)} ${dir.padEnd(9)} ${io.on.join(',')}${io.arch ? ` [${io.arch}]` : ''}\n`);
    }
  }
}

export function show(name: string, abi: Abi, setId?: string): void {
  const registry = SchemaRegistry.default();
  const sets = setId ? [registry.set(setId)] : registry.sets;
  const blocks: string[] = [];
  for (const set of sets) {
    const ioctl = set.ioctls.find((i) => i.name === name);
    if (ioctl) blocks.push(describeIoctl(set, abi, ioctl));
    const type = describeType(set, abi, name.replace(/^struct /, ''));
    if (type) blocks.push(`${type}\n  (from ${set.id})`);
  }
  if (blocks.length === 0) throw new UserError(`no ioctl or type named '${name}' in ${sets.map((s) => s.id).join(', ')}`);
  process.stdout.write(blocks.join('\n\n') + '\n');
}

