// The shim's raw logs read directly: their mode, and what ingest makes of truncated or corrupt ones
// (untrusted bytes: every complete record is kept and one note says what was wrong).

import { execFileSync, spawn } from 'node:child_process';
import { copyFileSync, readdirSync, readFileSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ingest } from '../recorder/ingest.js';
import { parseRawLog } from '../recorder/rawlog.js';
import { record } from '../recorder/record.js';
import { RecordError } from '../recorder/spawn.js';
import { TraceReader } from '../traces/reader.js';
import { cli } from './support/cli.js';
import { buildMonitors, kvmSkipReason, shimOnly, tempDir } from './support/monitors.js';

const rawRun = () => shimOnly([buildMonitors().guests.real]);

function ingestOne(dir: string) {
  return ingest({ rawDir: dir, t0: 0n, abi: 'lp64', root: { pid: 1, status: 0 } }).events;
}

describe.skipIf(kvmSkipReason)(`raw logs (${kvmSkipReason ?? 'real /dev/kvm'})`, () => {
  it('are private to the user (0600), like the sequence counter and rule tables', () => {
    const { dir } = rawRun();
    for (const f of readdirSync(dir)) expect(statSync(join(dir, f)).mode & 0o777, f).toBe(0o600);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
  });

  it('keep every complete record when truncated, with one note', () => {
    const { dir, log } = rawRun();
    const whole = parseRawLog(readFileSync(log));
    expect(whole.damage).toBeUndefined();
    const cut = tempDir('ioctlgrind-cut-');
    const half = join(cut, log.split('/').at(-1)!);
    copyFileSync(log, half);
    const at = whole.records[Math.floor(whole.records.length / 2)].offset + 40;
    truncateSync(half, at);
    const parsed = parseRawLog(readFileSync(half));
    expect(parsed.records.length).toBe(Math.floor(whole.records.length / 2));
    expect(parsed.damage).toMatch(/file ends at|bad length|shorter/);
    const notes = ingestOne(cut).filter((e) => e.type === 'note' && /raw log damaged/.test(e.message));
    expect(notes).toHaveLength(1);
  });

  it('stop at a corrupt record and keep what came before it', () => {
    const { dir, log } = rawRun();
    const bytes = readFileSync(log);
    const whole = parseRawLog(bytes);
    const victim = whole.records[5];
    bytes.writeUInt32LE(3, victim.offset); // a length no record can have
    writeFileSync(log, bytes);
    const parsed = parseRawLog(bytes);
    expect(parsed.records.map((r) => r.seq)).toEqual(whole.records.slice(0, 5).map((r) => r.seq));
    expect(parsed.damage).toMatch(/bad length 3/);
    const events = ingestOne(dir);
    expect(events.filter((e) => e.type === 'note' && /raw log damaged/.test(e.message))).toHaveLength(1);
  });

  it('skip a record whose writer died before committing it', () => {
    const { dir, log } = rawRun();
    const bytes = readFileSync(log);
    const whole = parseRawLog(bytes);
    bytes.writeUInt16LE(0, whole.records[3].offset + 4); // type 0: reserved, never committed
    writeFileSync(log, bytes);
    const parsed = parseRawLog(bytes);
    expect(parsed.uncommitted).toBe(1);
    expect(parsed.records).toHaveLength(whole.records.length - 1);
    expect(ingestOne(dir).some((e) => e.type === 'note' && /being written when the process ended/.test(e.message))).toBe(true);
  });
});

describe('user errors', () => {
  it('a command that does not exist is one line, and no trace', async () => {
    const out = join(tempDir('ioctlgrind-err-'), 'x.trace');
    const err = await record({ command: ['no-such-command-ioctlgrind'], output: out, memcheck: false }).catch((e: Error) => e);
    expect(err).toBeInstanceOf(RecordError);
    expect((err as Error).message).toMatch(/^(command not found: no-such-command-ioctlgrind|\/dev\/kvm is not usable.*)$/);
  });

  it('a trace that cannot be written is said before the target runs', async () => {
    const err = await record({ command: ['true'], output: '/nonexistent-dir/x.trace', memcheck: false }).catch((e: Error) => e);
    expect(err).toBeInstanceOf(RecordError);
    expect((err as Error).message).toMatch(/^(cannot write the trace: ENOENT|\/dev\/kvm is not usable)/);
  });

  it.skipIf(kvmSkipReason)('schema sets IOCTLGRIND_SCHEMAS cannot load are said before the target runs, the old trace kept', () => {
    const dir = tempDir('ioctlgrind-err-');
    const out = join(dir, 'x.trace');
    writeFileSync(out, 'an earlier trace');
    const r = cli(['record', '-o', out, '--', 'sh', '-c', 'echo TARGET RAN'], { env: { ...process.env, IOCTLGRIND_SCHEMAS: join(dir, 'missing') } });
    expect(r.status).toBe(1);
    expect(r.stdout).not.toContain('TARGET RAN');
    expect(r.stderr.trim().split('\n')).toEqual([`ioctlgrind: ${join(dir, 'missing')}: no such schema folder or file`]);
    expect(readFileSync(out, 'utf8')).toBe('an earlier trace');
  });
});

describe.skipIf(kvmSkipReason)(`the trace written into a FIFO (${kvmSkipReason ?? 'real /dev/kvm'})`, () => {
  it('is opened once, while another process reads it', async () => {
    const dir = tempDir('ioctlgrind-fifo-');
    const fifo = join(dir, 'pipe');
    execFileSync('mkfifo', [fifo]);
    const got = join(dir, 'got.trace');
    const reader = spawn('sh', ['-c', `cat "${fifo}" > "${got}"`]);
    const read = new Promise((done) => reader.once('exit', done));
    const m = buildMonitors();
    const rec = await record({ command: [m.kvmmon, '--quiet', m.guests.real], output: fifo, memcheck: false, ruleCache: null });
    await read;
    expect(rec.exit.status).toBe(0);
    const trace = [...TraceReader.open(got)];
    expect(trace.length).toBe(rec.events);
    expect(trace.at(-1)).toMatchObject({ type: 'exit', status: 0 });
  });
});
