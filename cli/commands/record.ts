import type { CommandModule } from 'yargs';
import { UserError } from '../user-error.js';

export const recordCommand: CommandModule<object, { output: string; memcheck: boolean; command: string[] }> = {
  command: 'record [command..]',
  describe: 'run CMD with every ioctl recorded into a trace; exits with its status',
  builder: (y) =>
    y
      .usage('$0 record [-o TRACE] [--memcheck] -- CMD ARGS...')
      .option('output', { alias: 'o', type: 'string', default: 'ioctlgrind.trace', describe: 'the trace to write' })
      .option('memcheck', { type: 'boolean', default: false, describe: 'run under valgrind memcheck: record undefined input bytes' })
      .positional('command', { type: 'string', array: true, describe: 'the command to record, after --' })
      .parserConfiguration({
        // The target's arguments stay as given: after `--`, or unknown options before it.
        'populate--': true,
        'unknown-options-as-args': true,
        'parse-numbers': false,
        'parse-positional-numbers': false,
      }) as never,
  handler: async (argv) => {
    const rest = (argv as unknown as { '--'?: (string | number)[] })['--'] ?? [];
    const command = [...(argv.command ?? []), ...rest].map(String);
    const [{ record, STALE_RULES }, { RecordError }] = await Promise.all([import('../../recorder/record.js'), import('../../recorder/spawn.js')]);
    try {
      const result = await record({ command, output: argv.output, memcheck: argv.memcheck });
      if (result.dropped > 0) {
        process.stderr.write(`ioctlgrind: warning: ${result.dropped} records were lost: a raw log could not grow (point IOCTLGRIND_RAWDIR at a bigger file system)\n`);
      }
      if (result.staleRules) process.stderr.write(`ioctlgrind: warning: ${STALE_RULES}\n`);
      process.exitCode = result.exit.status;
    } catch (e) {
      throw e instanceof RecordError ? new UserError(e.message, e.exitCode) : e;
    }
  },
};
