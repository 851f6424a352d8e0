import { existsSync, writeFileSync } from 'node:fs';
import type { CommandModule } from 'yargs';
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

function diff(a: string, b: string, json: boolean, abi?: string): void {
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

function importCommand(argv: { headers: string[]; abi: string; output?: string; family: string; id?: string; include?: string[]; device?: string[] }): void {
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

function list(): void {
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

function show(name: string, abi: Abi, setId?: string): void {
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

export const schemasCommand: CommandModule = {
  command: 'schemas',
  describe: 'list and show the ioctl schemas',
  builder: (y) =>
    y
      .option('schemas', { type: 'string', array: true, describe: 'also load the schema sets in this folder or file (like IOCTLGRIND_SCHEMAS)' })
      .middleware((argv) => {
        const extra = (argv.schemas as string[] | undefined)?.map(String);
        if (extra && extra.length > 0) SchemaRegistry.useExtraSchemas(extra);
      })
      .command('list', 'every schema set and its ioctls', {}, () => list())
      .command(
        'show <name>',
        'an ioctl or a type: fields, offsets, sizes, directions',
        (b) =>
          b
            .positional('name', { type: 'string', demandOption: true })
            .option('abi', { choices: ABIS as Abi[], default: 'lp64' as Abi, describe: 'lp64 (x86_64), ilp32 (i386), llp64 (Windows x64)' })
            .option('set', { type: 'string', describe: 'one schema set id' }),
        (argv) => show(argv.name, argv.abi, argv.set),
      )
      .command(
        'diff <a> <b>',
        'ioctls whose number, size, direction, layout or presence differ between two sets; numbers shared within a set',
        (b) =>
          b
            .positional('a', { type: 'string', demandOption: true, describe: 'a set id (haxm-qemu-linux) or a set file' })
            .positional('b', { type: 'string', demandOption: true, describe: 'a set id (haxm-linux) or a set file' })
            .option('json', { type: 'boolean', default: false, describe: 'the structured result as JSON' })
            .option('abi', { type: 'string', describe: 'the ABIs to hold against each other, A:B (lp64:ilp32); default the common ones' }),
        (argv) => diff(argv.a, argv.b, argv.json, argv.abi),
      )
      .command(
        'import <headers..>',
        'a schema set from the C headers of your own driver, laid out by the compiler',
        (b) =>
          b
            .positional('headers', { type: 'string', array: true, demandOption: true })
            .option('abi', { type: 'string', default: 'lp64,ilp32', describe: 'ABIs to measure: lp64 (x86_64), ilp32 (i386)' })
            .option('output', { alias: 'o', type: 'string', describe: 'the JSON file to write (default: standard output)' })
            .option('family', { type: 'string', default: 'custom', describe: 'the family name of the set' })
            .option('id', { type: 'string', describe: 'the set id (default: the family)' })
            .option('include', { alias: 'I', type: 'string', array: true, describe: 'another include folder' })
            .option('device', { type: 'string', array: true, describe: 'a device path that opens the driver (/dev/mydrv)' }),
        (argv) => importCommand(argv as never),
      )
      .demandCommand(1, 'say list, show, diff or import'),
  handler: () => undefined,
};
