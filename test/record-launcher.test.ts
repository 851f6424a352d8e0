// bin/ioctlgrind record goes through the launcher (build/ioctlgrind-record): it starts the target
// under the shim before Node starts, and Node follows it (cli/record-attached.ts). The trace is the
// one Node's own record makes; what the launcher does not handle, Node does.

import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { STALE_RULES } from '../recorder/record.js';
import { buildRuleTables } from '../recorder/rules.js';
import { packageRoot } from '../schemas/paths.js';
import { SchemaRegistry } from '../schemas/registry.js';
import type { IoctlEvent, TraceEvent } from '../traces/events.js';
import { TraceReader } from '../traces/reader.js';
import { buildMonitors, kvmSkipReason, tempDir } from './support/monitors.js';

const BIN = join(packageRoot(), 'bin', 'ioctlgrind');
const LAUNCHER = join(packageRoot(), 'build', 'ioctlgrind-record');
const skip = kvmSkipReason ?? (existsSync(LAUNCHER) ? undefined : `${LAUNCHER} is not built (npm install builds it)`);

/** A rule-table cache and raw-log folder of this test's own, so that other tests' recordings do not meet them. */
function setting() {
  const dir = tempDir('launcher-');
  const cache = join(dir, 'rules');
  const raw = join(dir, 'raw');
  spawnSync('mkdir', ['-p', cache, raw]);
  return { dir, cache, raw, env: { ...process.env, IOCTLGRIND_RULE_CACHE: cache, IOCTLGRIND_RAWDIR: raw } };
}

function ig(args: string[], env: NodeJS.ProcessEnv) {
  const r = spawnSync(BIN, args, { encoding: 'utf8', env });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** A target that writes the name of the process that started it into `file`, then runs `then`. */
const sayParent = (file: string, then: string) => ['sh', '-c', `cat /proc/$PPID/comm > ${file}; ${then}`];
const parentOf = (file: string) => readFileSync(file, 'utf8').trim();
const ioctls = (events: TraceEvent[]) => events.filter((e): e is IoctlEvent => e.type === 'ioctl').map((e) => e.request);

describe.skipIf(skip)(`record through the launcher (${skip ?? 'real /dev/kvm'})`, () => {
  it('starts the target itself once rule tables are kept, and writes the trace Node would', () => {
    const m = buildMonitors();
    const { dir, cache, raw, env } = setting();
    const traces = [join(dir, 'node.trace'), join(dir, 'launcher.trace')];
    const run = `exec ${m.kvmmon} --quiet --exits 40 ${m.guests.exits}`;
    // No tables kept yet: Node records (and keeps them); then the launcher starts the target.
    for (const [i, trace] of traces.entries()) {
      const r = ig(['record', '-o', trace, '--', ...sayParent(join(dir, `parent${i}`), run)], env);
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
    }
    expect(parentOf(join(dir, 'parent0'))).toBe('node');
    expect(parentOf(join(dir, 'parent1'))).toBe('ioctlgrind-reco'); // comm keeps 15 characters
    expect(readdirSync(cache).sort()).toEqual(['kvm-linux.ilp32', 'kvm-linux.lp64']);
    const [byNode, byLauncher] = traces.map((t) => [...TraceReader.open(t)]);
    const header = TraceReader.open(traces[1]).header;
    expect(header.command).toEqual(sayParent(join(dir, 'parent1'), run));
    expect(header.abi).toBe('lp64');
    expect(ioctls(byLauncher)).toEqual(ioctls(byNode));
    const KVM_RUN = 0xae80;
    // The guest's 40 writes to port 0x80, then its read of the exit code and the write that ends it.
    expect(ioctls(byLauncher).filter((r) => r === KVM_RUN).length).toBe(42);
    expect(statSync(traces[1]).mode & 0o777).toBe(0o600);
    expect(readdirSync(raw)).toEqual([]); // the raw directory is gone
  });

  it("passes the target's exit status through, and its signal as 128 + the number", () => {
    const { dir, env } = setting();
    const trace = join(dir, 't.trace');
    expect(ig(['record', '-o', trace, '--', 'true'], env).status).toBe(0); // keeps the tables
    expect(ig(['record', '-o', trace, '--', ...sayParent(join(dir, 'p'), 'exit 7')], env).status).toBe(7);
    expect(parentOf(join(dir, 'p'))).toBe('ioctlgrind-reco');
    // -o given twice: the last one counts, through the launcher and through Node alike.
    const first = join(dir, 'first.trace');
    const killed = ig(['record', '-o', first, '--output', trace, '--', 'sh', '-c', 'kill -KILL $$'], env);
    expect(existsSync(first)).toBe(false);
    expect(ig(['record', '-o', first, '--no-memcheck', '-o', join(dir, 'last.trace'), '--', 'true'], env).status).toBe(0);
    expect([existsSync(first), existsSync(join(dir, 'last.trace'))]).toEqual([false, true]);
    expect(killed.status).toBe(137);
    const events = [...TraceReader.open(trace)];
    expect(events.at(-1)).toMatchObject({ type: 'exit', signal: 9 });
  });

  it("leaves the terminal's ^C to the target: the trace is still written", async () => {
    const { dir, env } = setting();
    const trace = join(dir, 't.trace');
    const ready = join(dir, 'ready');
    expect(ig(['record', '-o', trace, '--', 'true'], env).status).toBe(0);
    // Detached: the launcher leads a process group, as a shell's job does; ^C goes to the group.
    const job = spawn(BIN, ['record', '-o', trace, '--', 'sh', '-c', `touch ${ready}; exec sleep 20`], { env, detached: true, stdio: 'ignore' });
    const ended = new Promise<number | null>((done) => job.once('exit', (code) => done(code)));
    while (!existsSync(ready)) await delay(20);
    process.kill(-job.pid!, 'SIGINT');
    expect(await ended).toBe(130);
    const events = [...TraceReader.open(trace)];
    expect(events.at(-1)).toMatchObject({ type: 'exit', signal: 2 });
  });

  it('says when the kept tables it started the target with were stale, and replaces them', () => {
    const { dir, cache, env } = setting();
    const set = SchemaRegistry.default().set('kvm-linux');
    const stale = buildRuleTables({ ...set, ioctls: set.ioctls.filter((i) => i.name !== 'KVM_GET_MSRS') });
    for (const abi of ['lp64', 'ilp32'] as const) writeFileSync(join(cache, `kvm-linux.${abi}`), stale[abi]);
    const trace = join(dir, 't.trace');
    const r = ig(['record', '-o', trace, '--', ...sayParent(join(dir, 'p'), 'true')], env);
    expect(parentOf(join(dir, 'p'))).toBe('ioctlgrind-reco');
    expect(r).toMatchObject({ status: 0, stderr: `ioctlgrind: warning: ${STALE_RULES}\n` });
    expect([...TraceReader.open(trace)][0]).toMatchObject({ type: 'note', message: `${STALE_RULES} (${cache}/kvm-linux.*)` });
    expect(readFileSync(join(cache, 'kvm-linux.lp64')).equals(buildRuleTables(set).lp64)).toBe(true);
  });

  it('hands Node what it does not handle: other options, a command not found, an output it cannot open', () => {
    const { dir, env } = setting();
    const trace = join(dir, 't.trace');
    expect(ig(['record', '-o', trace, '--', 'true'], env).status).toBe(0);
    expect(ig(['record', '--no-memcheck', '-o', trace, '--', ...sayParent(join(dir, 'p'), 'true')], env).status).toBe(0);
    expect(parentOf(join(dir, 'p'))).toBe('node');
    const missing = ig(['record', '-o', trace, '--', 'no-such-command-here'], env);
    expect(missing).toMatchObject({ status: 127, stderr: 'ioctlgrind: command not found: no-such-command-here\n' });
    const ran = join(dir, 'ran');
    const unwritable = ig(['record', '-o', join(dir, 'no', 'such', 'dir', 't.trace'), '--', 'sh', '-c', `touch ${ran}`], env);
    expect(unwritable.status).toBe(1);
    expect(unwritable.stderr).toMatch(/^ioctlgrind: cannot write the trace: ENOENT[^\n]*\n$/);
    expect(existsSync(ran)).toBe(false); // said before the target ran
  });

  it('keeps what was recorded when the launcher is killed, and says so in one line', async () => {
    const { dir, env } = setting();
    const trace = join(dir, 't.trace');
    const ready = join(dir, 'ready');
    expect(ig(['record', '-o', trace, '--', 'true'], env).status).toBe(0);
    const job = spawn(BIN, ['record', '-o', trace, '--', 'sh', '-c', `touch ${ready}; exec sleep 1`], { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    job.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    // stderr closes when the last of its holders has gone: the target, and Node, which outlives the launcher.
    const closed = new Promise((done) => job.stderr.once('close', done));
    while (!existsSync(ready)) await delay(20);
    await delay(300); // Node has started following
    job.kill('SIGKILL');
    await closed;
    expect(stderr).toBe('ioctlgrind: the launcher ended before the target did (it was killed?); the trace holds what was ingested until then\n');
    const events = [...TraceReader.open(trace)];
    expect(events.some((e) => e.type === 'exec')).toBe(true);
  });

  it('exits with the status Node says once the trace is closed, without waiting for Node to end', async () => {
    const { dir, env } = setting();
    const trace = join(dir, 't.trace');
    expect(ig(['record', '-o', trace, '--', 'true'], env).status).toBe(0);
    // A stand-in for node on PATH: it says 42 on the fd ATTACH's third field names, then lingers.
    const bin = join(dir, 'bin');
    const lingering = join(dir, 'lingering');
    spawnSync('mkdir', ['-p', bin]);
    const fake = `#!/bin/sh\nsaid=$(echo "$3" | cut -d, -f3)\necho $$ > ${lingering}\neval "echo 42 >&$said"\nexec sleep 30 </dev/null >/dev/null 2>&1\n`;
    writeFileSync(join(bin, 'node'), fake, { mode: 0o755 });
    const r = ig(['record', '-o', trace, '--', 'true'], { ...env, PATH: `${bin}:${env.PATH}` });
    expect(r).toMatchObject({ status: 42, stderr: '' });
    const pid = Number(readFileSync(lingering, 'utf8'));
    expect(() => process.kill(pid, 0)).not.toThrow(); // still there: the launcher did not wait for it
    process.kill(pid, 'SIGKILL');
  });

  it("waits for the target and says so in one line when the trace's writer is killed", async () => {
    const { dir, env } = setting();
    const trace = join(dir, 't.trace');
    const [ready, done] = [join(dir, 'ready'), join(dir, 'done')];
    expect(ig(['record', '-o', trace, '--', 'true'], env).status).toBe(0);
    const job = spawn(BIN, ['record', '-o', trace, '--', 'sh', '-c', `touch ${ready}; sleep 0.5; touch ${done}`], { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    job.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const ended = new Promise<number | null>((resolve) => job.once('exit', (code) => resolve(code)));
    while (!existsSync(ready)) await delay(20);
    const node = readdirSync('/proc')
      .filter((p) => /^\d+$/.test(p))
      .find((p) => {
        try {
          const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
          return stat.includes('(node)') && Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === job.pid;
        } catch {
          return false; // gone meanwhile
        }
      });
    expect(node).toBeDefined();
    process.kill(Number(node), 'SIGKILL');
    expect(await ended).toBe(137);
    expect(existsSync(done)).toBe(true);
    expect(stderr).toBe(`ioctlgrind: the trace's writer (node) was killed by signal 9; ${trace} may be incomplete\n`);
  });

  it('says in one line what it was given when run without the launcher', () => {
    const r = spawnSync(process.execPath, [join(packageRoot(), 'dist', 'cli', 'record-attached.js'), 'nonsense', 'out.trace', 'true'], { encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(r.stderr).toBe('ioctlgrind: cli/record-attached.js is run by ioctlgrind\'s launcher (bin/ioctlgrind record); it cannot follow "nonsense"\n');
  });
});
