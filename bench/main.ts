// `npm run bench`: every capability's figures, each beside its comparison, measured in one run.

import { benchCheck } from './check.js';
import { benchSchemas } from './schemas.js';
import { benchRecord } from './record.js';
import { benchReplay } from './replay.js';
import { benchRun } from './run.js';
import { benchTraces } from './traces.js';
import { benchVmx } from './vmx.js';
import type { BenchRow } from './row.js';

const suites: [string, () => Promise<BenchRow[]>][] = [
  ['decode', benchSchemas],
  ['traces', benchTraces],
  ['check', benchCheck],
  ['vmx', benchVmx],
  ['run', benchRun],
  ['record', benchRecord],
  ['replay', benchReplay],
];

const only = process.argv.slice(2);
for (const [name, run] of suites) {
  if (only.length > 0 && !only.includes(name)) continue;
  const rows = await run();
  for (const r of rows) {
    const value = typeof r.value === 'number' ? r.value.toLocaleString('en-US') : r.value;
    process.stdout.write(`${r.bench.padEnd(8)} ${r.what.padEnd(48)} ${String(value).padStart(14)} ${r.unit}${r.ratio ? `  (${r.ratio})` : ''}\n`);
  }
}
