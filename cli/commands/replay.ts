import type { CommandModule } from 'yargs';
import type { Target } from '../../replayer/targets.js';

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
  handler: async (argv) => {
    // The emulated core takes a tenth of a second to load: only the commands that use it load it.
    const [{ replayTrace }, { jsonReport, textReport }, { makeDriver, traceFamily }, { SchemaRegistry }] = await Promise.all([
      import('../../replayer/engine.js'), import('../../replayer/report.js'), import('../../replayer/targets.js'), import('../../schemas/registry.js'),
    ]);
    const registry = SchemaRegistry.default();
    const driver = makeDriver(argv.against, traceFamily(argv.trace, registry));
    const summary = replayTrace(argv.trace, registry, driver, argv.against, { until: argv.until, keepGoing: argv['keep-going'] });
    process.stdout.write(argv.json ? jsonReport(summary) : textReport(argv.trace, summary));
    if (summary.divergence) process.exitCode = 1;
  },
};
