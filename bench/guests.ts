// The benchmarks' guests: test/guests/NAME.asm assembled with nasm into a temporary file.

import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { packageRoot } from '../schemas/paths.js';

/** The guest's bytes, or undefined where nasm is missing (the benchmark then says so). */
export function assembleGuest(name: string): Uint8Array | undefined {
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'ioctlgrind-bench-'));
  try {
    const out = path.join(tmp, `${name}.bin`);
    execFileSync('nasm', ['-f', 'bin', '-o', out, path.join(packageRoot(), 'test', 'guests', `${name}.asm`)], { stdio: 'ignore' });
    return new Uint8Array(readFileSync(out));
  } catch {
    return undefined;
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}
