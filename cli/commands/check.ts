import type { CommandModule } from 'yargs';
import { toolVersion } from '../../schemas/paths.js';

interface Args {
  trace: string;
  json?: boolean;
  sarif?: boolean;
  suppressions: string[];
  'gen-suppressions': boolean;
  'error-exitcode': number;
}

export const checkCommand: CommandModule<object, Args> = {
  command: 'check <trace>',
  describe: 'report struct-size, direction, multiplexed-attribute, definedness, ABI and protocol problems in a trace',
  builder: (y) =>
    y
      .positional('trace', { type: 'string', demandOption: true })
      .option('json', { type: 'boolean', describe: 'one finding a line (JSON Lines)' })
      .option('sarif', { type: 'boolean', describe: 'SARIF 2.1.0 for code scanning' })
      .option('suppressions', { type: 'string', array: true, default: [], describe: 'suppression file (may be repeated)' })
      .option('gen-suppressions', { type: 'boolean', default: false, describe: 'print a suppression block after each finding' })
      .option('error-exitcode', { type: 'number', default: 0, describe: 'exit with N when errors are found' })
      .conflicts('json', 'sarif') as never,
  handler: async (argv) => {
    const [{ default: cliProgress }, { checkTrace, counts }, { jsonReport }, { sarifReport }, { textReport }, { loadSuppressions }, { SchemaRegistry }] = await Promise.all([
      import('cli-progress'), import('../../checker/check.js'), import('../../checker/report-json.js'), import('../../checker/report-sarif.js'),
      import('../../checker/report-text.js'), import('../../checker/suppressions.js'), import('../../schemas/registry.js'),
    ]);
    const suppressions = argv.suppressions.flatMap((f) => loadSuppressions(f));
    const bar = process.stderr.isTTY && !argv.json && !argv.sarif ? new cliProgress.SingleBar({ format: 'checking [{bar}] {percentage}% | {value}/{total} bytes', stream: process.stderr, clearOnComplete: true }, cliProgress.Presets.shades_classic) : undefined;
    let started = false;
    const result = checkTrace(argv.trace, SchemaRegistry.default(), {
      suppressions,
      progress: bar && ((done, total) => {
        if (!started) { bar.start(total, 0); started = true; }
        bar.update(done);
      }),
    });
    if (started) bar?.stop();
    if (argv.sarif) process.stdout.write(sarifReport(argv.trace, result, toolVersion()));
    else if (argv.json) for (const line of jsonReport(result)) process.stdout.write(line + '\n');
    else process.stdout.write(textReport(argv.trace, result, { genSuppressions: argv['gen-suppressions'] }));
    if ((argv.json || argv.sarif) && result.truncated) process.stderr.write(`ioctlgrind: warning: ${result.truncated}\n`);
    if (argv['error-exitcode'] && counts(result).errors > 0) process.exitCode = argv['error-exitcode'];
  },
};
