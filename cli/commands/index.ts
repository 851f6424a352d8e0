import type { CommandModule } from 'yargs';

export const indexCommand: CommandModule<object, { trace: string; output?: string }> = {
  command: 'index <trace>',
  describe: 'build an SQLite index of a trace (default TRACE.db)',
  builder: (y) =>
    y
      .positional('trace', { type: 'string', demandOption: true, describe: 'the trace file' })
      .option('output', { alias: 'o', type: 'string', describe: 'the database to write' }) as never,
  handler: async (argv) => {
    const [{ SchemaRegistry }, { indexTrace }, { truncationMessage }] = await Promise.all([
      import('../../schemas/registry.js'), import('../../traces/index.js'), import('../../traces/reader.js'),
    ]);
    const db = argv.output ?? `${argv.trace}.db`;
    const summary = indexTrace(argv.trace, SchemaRegistry.default(), db);
    process.stdout.write(`${db}: ${summary.events} events, ${summary.objects} objects\n`);
    if (summary.truncated) {
      process.stderr.write(`ioctlgrind: warning: ${truncationMessage(argv.trace, summary.truncated)}; the events before it were indexed\n`);
    }
  },
};
