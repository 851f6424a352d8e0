// A new trace replaces an existing file instead of truncating it (ext4 writes back a file truncated
// to zero when it is closed: 0.25 s at the end of an 800 MB recording); a FIFO or a device given as
// the output is written as it is, its mode untouched.

import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TraceReader } from '../traces/reader.js';
import { kvmSampleEvents, writeTrace } from './support/trace-fixtures.js';

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ioctlgrind-trace-file-'));
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('the trace file', () => {
  it('replaces an existing file: a new inode, mode 0600, a hard link to the old one untouched', () => {
    const file = path.join(dir, 'old.trace');
    const link = path.join(dir, 'link');
    fs.writeFileSync(file, 'old contents', { mode: 0o644 });
    fs.linkSync(file, link);
    const before = fs.statSync(file).ino;
    writeTrace(file);
    expect(fs.statSync(file).ino).not.toBe(before);
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    expect([...TraceReader.open(file)]).toEqual(kvmSampleEvents());
    expect(fs.readFileSync(link, 'utf8')).toBe('old contents');
  });

  it('writes through a symlink to the file it names', () => {
    const target = path.join(dir, 'target.trace');
    fs.writeFileSync(target, 'old contents');
    fs.symlinkSync(target, path.join(dir, 'via-link.trace'));
    writeTrace(path.join(dir, 'via-link.trace'));
    expect(fs.lstatSync(path.join(dir, 'via-link.trace')).isSymbolicLink()).toBe(true);
    expect([...TraceReader.open(target)]).toEqual(kvmSampleEvents());
  });

  it('writes into a FIFO as it is, its mode untouched, opening it once', async () => {
    const fifo = path.join(dir, 'pipe');
    execFileSync('mkfifo', ['-m', '644', fifo]);
    const got = path.join(dir, 'got.trace');
    const reader = spawn('sh', ['-c', `cat "${fifo}" > "${got}"`]);
    const done = new Promise((ok) => reader.once('exit', ok));
    writeTrace(fifo);
    await done;
    expect(fs.statSync(fifo).mode & 0o777).toBe(0o644);
    expect(fs.statSync(fifo).isFIFO()).toBe(true);
    expect([...TraceReader.open(got)]).toEqual(kvmSampleEvents());
  });
});
