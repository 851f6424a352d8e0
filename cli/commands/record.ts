import type { CommandModule } from 'yargs';
import type { Attached } from '../../recorder/record.js';
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
        // -o given twice: the last one, as strace and valgrind take it.
        'duplicate-arguments-array': false,
      }) as never,
  handler: async (argv) => {
    const rest = (argv as unknown as { '--'?: (string | number)[] })['--'] ?? [];
    const command = [...(argv.command ?? []), ...rest].map(String);
    await runRecord({ command, output: argv.output, memcheck: argv.memcheck });
  },
};

type Options = { command: string[]; output: string; memcheck: boolean };

/** Records and reports as the command does; `attach` comes from the launcher, through cli/record-attached.ts. */
export async function runRecord(options: Options, attach?: Attached): Promise<void> {
  const [{ record, recordAttached, STALE_RULES }, { RecordError }] = await Promise.all([import('../../recorder/record.js'), import('../../recorder/spawn.js')]);
  try {
    const result = attach === undefined ? await record(options) : await recordAttached(options, attach);
    if (result.dropped > 0) {
      process.stderr.write(`ioctlgrind: warning: ${result.dropped} records were lost: a raw log could not grow (point IOCTLGRIND_RAWDIR at a bigger file system)\n`);
    }
    if (result.staleRules) process.stderr.write(`ioctlgrind: warning: ${STALE_RULES}\n`);
    process.exitCode = result.exit.status;
  } catch (e) {
    throw e instanceof RecordError ? new UserError(e.message, e.exitCode) : e;
  }
}

/**
 * The launcher's `PID,ENDFD,SAIDFD,TRACEFD,ABI,T0NS,STARTEDMS,RAWDIR` (the directory last: it may
 * hold commas). SAIDFD is where the exit status goes once the trace is closed.
 */
export function parseAttach(text: string): Attached & { saidFd: number } {
  const [pid, endFd, saidFd, traceFd, abi, t0, startedMs, ...dir] = text.split(',');
  const int = (s: string | undefined) => (s !== undefined && /^\d+$/.test(s) ? Number(s) : NaN);
  const fields = { pid: int(pid), endFd: int(endFd), saidFd: int(saidFd), traceFd: int(traceFd), startedMs: int(startedMs) };
  if (Object.values(fields).some(Number.isNaN) || !/^\d+$/.test(t0 ?? '') || (abi !== 'lp64' && abi !== 'ilp32') || dir.length === 0) {
    throw new UserError(`cli/record-attached.js is run by ioctlgrind's launcher (bin/ioctlgrind record); it cannot follow "${text}"`);
  }
  return { ...fields, abi, t0: BigInt(t0), rawDir: dir.join(',') };
}
