import type { CommandModule } from 'yargs';
import { replayTrace } from '../../replayer/engine.js';
import { jsonReport, textReport } from '../../replayer/report.js';
import { makeDriver, traceFamily, type Target } from '../../replayer/targets.js';
import { SchemaRegistry } from '../../schemas/registry.js';

interface Args {
  trace: string;
  against: Target;
  json?: boolean;
  until?: number;
  'keep-going'?: boolean;
}

export const replayCommand: CommandModule<object, Args> = {
  command: 'replay <trace>',
  describe: 're-drive the emulated core (or /dev/kvm) with a trace and report the first divergence',
  builder: (y) =>
    y
      .positional('trace', { type: 'string', demandOption: true })
      .option('against', { choices: ['emulator', 'kvm'] as Target[], default: 'emulator' as Target, describe: 'the driver to re-drive' })
      .option('json', { type: 'boolean', describe: 'a summary object: events, replayed, divergence' })
      .option('until', { type: 'number', describe: 'stop before this seq and print the vCPU state' })
      .option('keep-going', { type: 'boolean', describe: 'list every divergence, not only the first' }) as never,
  handler: (argv) => {
    const registry = SchemaRegistry.default();
    const driver = makeDriver(argv.against, traceFamily(argv.trace, registry));
    const summary = replayTrace(argv.trace, registry, driver, argv.against, { until: argv.until, keepGoing: argv['keep-going'] });
    process.stdout.write(argv.json ? jsonReport(summary) : textReport(argv.trace, summary));
    if (summary.divergence) process.exitCode = 1;
  },
};
