#!/usr/bin/env node
// The ioctlgrind command: parses arguments and calls the parts; it holds no logic of its own.

import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { checkCommand } from './commands/check.js';
import { decodeCommand } from './commands/decode.js';
import { demoCommand } from './commands/demo.js';
import { dumpCommand } from './commands/dump.js';
import { indexCommand } from './commands/index.js';
import { recordCommand } from './commands/record.js';
import { replayCommand } from './commands/replay.js';
import { runCommand } from './commands/run.js';
import { schemasCommand } from './commands/schemas.js';
import { reportFailure } from './user-error.js';

async function main(): Promise<void> {
  await yargs(hideBin(process.argv))
    .scriptName('ioctlgrind')
    .command(recordCommand)
    .command(runCommand)
    .command(checkCommand)
    .command(replayCommand)
    .command(dumpCommand)
    .command(indexCommand)
    .command(decodeCommand)
    .command(schemasCommand)
    .command(demoCommand)
    .demandCommand(1, 'say which command (see --help)')
    .strict()
    .fail((msg, err) => {
      if (err) throw err;
      process.stderr.write(`ioctlgrind: ${msg}\n`);
      process.exit(2);
    })
    .parseAsync();
}

main().catch((err) => {
  process.exitCode = reportFailure(err);
});
