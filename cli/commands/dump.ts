import type { CommandModule } from 'yargs';

/** Lines are written in batches of about this many characters: one write per line is slow. */
const BATCH_CHARS = 64 * 1024;

export const dumpCommand: CommandModule<object, { trace: string; json: boolean }> = {
  command: 'dump <trace>',
  describe: 'print the events of a trace, one a line (--json: JSON Lines)',
  builder: (y) =>
    y
      .positional('trace', { type: 'string', demandOption: true, describe: 'the trace file' })
      .option('json', { type: 'boolean', default: false, describe: 'one JSON object a line' }) as never,
  handler: async (argv) => {
    const [{ SchemaRegistry }, { dumpLines }, { TraceReader, truncationMessage }] = await Promise.all([
      import('../../schemas/registry.js'), import('../../traces/format.js'), import('../../traces/reader.js'),
    ]);
    // A reader that stops early (`| head`) is not an error.
    process.stdout.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'EPIPE') process.exit(0);
      throw error;
    });
    const reader = TraceReader.open(argv.trace);
    let batch = '';
    try {
      for (const line of dumpLines(reader, SchemaRegistry.default(), argv.json)) {
        batch += `${line}\n`;
        if (batch.length >= BATCH_CHARS) {
          process.stdout.write(batch);
          batch = '';
        }
      }
    } finally {
      // The events before a corrupt frame are printed before its error.
      process.stdout.write(batch);
    }
    if (reader.truncated) {
      process.stderr.write(`ioctlgrind: warning: ${truncationMessage(argv.trace, reader.truncated)}; the events before it were dumped\n`);
    }
  },
};
