// Recording cost: the exit-heavy sample monitor (100,000 port-I/O exits) run bare, under
// `ioctlgrind record` as a user runs it (bin/ioctlgrind: the launcher starts the target, a new Node
// process follows it), under Node's record without the launcher (node dist/cli/main.js), under
// record() in this process (the target's own time, and what ingest still had to do when it exited)
// and under strace, side by side in one run. `ioctlgrind record -- true` gives the command's fixed
// cost: Node's start, loading the modules, setting up and closing the trace. A run ten times longer
// shows the command with that fixed cost spread out.

import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { record } from '../recorder/record.js';
import { buildMonitors, kvmSkipReason } from '../test/support/monitors.js';
import { packageRoot } from '../schemas/paths.js';
import type { BenchRow } from './row.js';
import { timeItAsync } from './row.js';

const EXITS = 100_000;
const REPEAT = 5;
const LONG_EXITS = 1_000_000;
const LONG_REPEAT = 2;
/** strace costs ten times the rest: fewer runs of it. */
const STRACE_REPEAT = 2;
const CLI = fileURLToPath(new URL('../cli/main.js', import.meta.url));
const BIN = join(packageRoot(), 'bin', 'ioctlgrind');

function run(argv: string[]): Promise<void> {
  return new Promise((done, fail) => {
    const child = spawn(argv[0], argv.slice(1), { stdio: 'ignore' });
    child.once('error', fail);
    child.once('exit', (code) => (code === 0 ? done() : fail(new Error(`${argv.join(' ')} exited ${code}`))));
  });
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function strace(target: string[]): Promise<number | undefined> {
  try {
    return await timeItAsync(() => run(['strace', '-f', '-e', 'trace=ioctl', '-o', '/dev/null', ...target]));
  } catch {
    return undefined; // no strace here
  }
}

export async function benchRecord(): Promise<BenchRow[]> {
  if (kvmSkipReason) return [{ bench: 'record', what: 'skipped', value: kvmSkipReason, unit: '' }];
  const m = buildMonitors();
  const target = [m.kvmmon, '--quiet', '--exits', String(EXITS), m.guests.exits];
  const dir = mkdtempSync(join(tmpdir(), 'ioctlgrind-bench-'));
  const output = join(dir, 'bench.trace');
  const bare: number[] = [];
  const command: number[] = [];
  const nodeCommand: number[] = [];
  const fixed: number[] = [];
  const side: number[] = [];
  const ingest: number[] = [];
  const total: number[] = [];
  const traced: number[] = [];
  let raw = { recordBytes: 0, rawBytes: 0 };
  const recordCommand = (argv: string[], trace = output) => run([BIN, 'record', '-o', trace, '--', ...argv]);
  try {
    // The launcher starts targets once rule tables are kept (the first recording keeps them).
    await recordCommand(['true'], join(dir, 'true.trace'));
    for (let i = 0; i < REPEAT; i++) {
      bare.push(await timeItAsync(() => run(target)));
      rmSync(output, { force: true }); // truncating the last run's 80 MB trace is not the recording's cost
      command.push(await timeItAsync(() => recordCommand(target)));
      rmSync(output, { force: true });
      nodeCommand.push(await timeItAsync(() => run([process.execPath, CLI, 'record', '-o', output, '--', ...target])));
      fixed.push(await timeItAsync(() => recordCommand(['true'], join(dir, 'true.trace'))));
      rmSync(output, { force: true });
      const t = await timeItAsync(async () => {
        const r = await record({ command: target, output, memcheck: false });
        side.push(Number(r.targetNs) / 1e6);
        raw = r;
        ingest.push(Number(r.ingestNs) / 1e6);
      });
      total.push(t);
      const s = i < STRACE_REPEAT ? await strace(target) : undefined;
      if (s !== undefined) traced.push(s);
    }
    const long = [m.kvmmon, '--quiet', '--exits', String(LONG_EXITS), m.guests.exits];
    const longBare: number[] = [];
    const longCommand: number[] = [];
    for (let i = 0; i < LONG_REPEAT; i++) {
      longBare.push(await timeItAsync(() => run(long)));
      rmSync(output, { force: true });
      longCommand.push(await timeItAsync(() => recordCommand(long)));
    }
    const sizes = { trace: statSync(output).size };
    const b = median(bare);
    const ms = (what: string, value: number, ratio = true, base = b): BenchRow => ({
      bench: 'record', what, value: Math.round(value), unit: 'ms', ...(ratio ? { ratio: `${(value / base).toFixed(2)}x bare` } : {}),
    });
    const rows = [
      ms(`bare, ${EXITS.toLocaleString('en-US')} port-I/O exits`, b, false),
      ms('ioctlgrind record, a new process each run', median(command)),
      ms('  the same without the launcher: node dist/cli/main.js record', median(nodeCommand)),
      ms('  its fixed cost: ioctlgrind record -- true', median(fixed), false),
      ms('record() in this process: the target running with the shim', median(side)),
      ms('record() in this process: ingest left when the target exited', median(ingest), false),
      ms('record() in this process: the whole call', median(total)),
    ];
    if (traced.length > 0) rows.push(ms('strace -f -e trace=ioctl -o /dev/null', median(traced)));
    const lb = median(longBare);
    rows.push(ms(`bare, ${LONG_EXITS.toLocaleString('en-US')} port-I/O exits`, lb, false));
    rows.push(ms('ioctlgrind record, a new process each run', median(longCommand), true, lb));
    rows.push({ bench: 'record', what: `trace size, ${LONG_EXITS.toLocaleString('en-US')} exits`, value: Math.round(sizes.trace / 1e6), unit: 'MB' });
    rows.push({
      bench: 'record', what: 'raw log file (RAM on tmpfs), chunks reused', value: Math.round(raw.rawBytes / 1e6), unit: 'MB',
      ratio: `${Math.round(raw.recordBytes / 1e6)} MB of records through it`,
    });
    return rows;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
