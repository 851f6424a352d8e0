import type { CommandModule } from 'yargs';
import { ABIS, type Abi } from '../../schemas/model.js';
import { ABI_NAMES, describeIoctl, describeType } from '../../schemas/describe.js';
import { hex } from '../../schemas/ioc.js';
import { SchemaRegistry } from '../../schemas/registry.js';
import { UserError } from '../user-error.js';

function list(): void {
  const registry = SchemaRegistry.default();
  for (const set of registry.sets) {
    process.stdout.write(`${set.id}: ${set.description} (${set.ioctls.length} ioctls, ABIs ${set.abis.map((a) => ABI_NAMES[a]).join(', ')})\n`);
    for (const io of set.ioctls) {
      const n = io.numbers[set.abis[0]];
      process.stdout.write(`  ${(n === undefined ? '-' : hex(n)).padEnd(11)} ${io.name.padEnd(34)} ${(io.encoding.dir ?? '').padEnd(5)} ${io.on.join(',')}${io.arch ? ` [${io.arch}]` : ''}\n`);
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
      .demandCommand(1, 'say list or show'),
  handler: () => undefined,
};
