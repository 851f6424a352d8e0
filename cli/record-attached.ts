#!/usr/bin/env node
// What `record`'s launcher (recorder/launcher/launch.c) runs once it has started the target:
// `record` for that target, without the command line parser, whose loading (about 70 ms of CPU)
// would only compete with the target. Arguments: ATTACH OUTPUT CMD ARGS... (the launcher parsed them).

import { closeSync, writeSync } from 'node:fs';
import { parseAttach, runRecord } from './commands/record.js';
import { reportFailure } from './user-error.js';

const [attach = '', output = '', ...command] = process.argv.slice(2);
let said: number | undefined;
try {
  const attached = parseAttach(attach);
  said = attached.saidFd;
  await runRecord({ command, output, memcheck: false }, attached);
} catch (err) {
  process.exitCode = reportFailure(err);
}
// The trace is closed and everything said: the launcher may exit with this status now.
if (said !== undefined) {
  try {
    writeSync(said, `${Number(process.exitCode ?? 0)}\n`);
    closeSync(said);
  } catch {
    // the launcher is gone: there is no one to tell
  }
}
