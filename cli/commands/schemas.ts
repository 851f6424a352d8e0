import type { CommandModule } from 'yargs';
import { ABIS, type Abi } from '../../schemas/model.js';

const actions = () => import('./schemas-actions.js');

export const schemasCommand: CommandModule = {
  command: 'schemas',
  describe: 'list and show the ioctl schemas',
  builder: (y) =>
    y
      .option('schemas', { type: 'string', array: true, describe: 'also load the schema sets in this folder or file (like IOCTLGRIND_SCHEMAS)' })
      .middleware(async (argv) => {
        const extra = (argv.schemas as string[] | undefined)?.map(String);
        if (extra && extra.length > 0) (await import('../../schemas/registry.js')).SchemaRegistry.useExtraSchemas(extra);
      })
      .command('list', 'every schema set and its ioctls', {}, async () => (await actions()).list())
      .command(
        'show <name>',
        'an ioctl or a type: fields, offsets, sizes, directions',
        (b) =>
          b
            .positional('name', { type: 'string', demandOption: true })
            .option('abi', { choices: ABIS as Abi[], default: 'lp64' as Abi, describe: 'lp64 (x86_64), ilp32 (i386), llp64 (Windows x64)' })
            .option('set', { type: 'string', describe: 'one schema set id' }),
        async (argv) => (await actions()).show(argv.name, argv.abi, argv.set),
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
        async (argv) => (await actions()).diff(argv.a, argv.b, argv.json, argv.abi),
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
        async (argv) => (await actions()).importCommand(argv as never),
      )
      .demandCommand(1, 'say list, show, diff or import'),
  handler: () => undefined,
};
