#!/usr/bin/env node
// What `record`'s launcher (recorder/launcher/launch.c) runs once it has started the target:
// `record` for that target, without the command line parser, whose loading (about 70 ms of CPU)
// would only compete with the target. Arguments: ATTACH OUTPUT CMD ARGS... (the launcher parsed them).

import { runRecord } from './commands/record.js';
import { reportFailure } from './user-error.js';

const [attach = '', output = '', ...command] = process.argv.slice(2);
runRecord({ command, output, memcheck: false }, attach).catch((err) => {
  process.exitCode = reportFailure(err);
});
