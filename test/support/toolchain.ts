// What the machine offers the tests that need real tools; each test says why it skips.

import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

function works(cmd: string, args: string[], input?: string): boolean {
  const r = spawnSync(cmd, args, { input, encoding: 'utf8' });
  return r.status === 0;
}

export const hasGcc = works('gcc', ['--version']);
export const hasGcc32 = hasGcc && works('gcc', ['-m32', '-x', 'c', '-', '-o', '/dev/null'], 'int main(void){return 0;}');
export const hasKvmHeaders = existsSync('/usr/include/linux/kvm.h');

/** Compiles and runs a C program (file name p.c, so errors read `p.c:LINE`). */
export function compileAndRun(source: string, flags: string[] = []): { ok: boolean; stdout: string; stderr: string } {
  const dir = mkdtempSync(join(tmpdir(), 'ioctlgrind-test-'));
  const src = join(dir, 'p.c');
  const exe = join(dir, 'p');
  writeFileSync(src, source);
  const cc = spawnSync('gcc', [...flags, '-o', exe, src], { encoding: 'utf8' });
  if (cc.status !== 0) return { ok: false, stdout: '', stderr: cc.stderr };
  const run = spawnSync(exe, [], { encoding: 'utf8' });
  if (run.status !== 0) throw new Error(`${exe} exited ${run.status}: ${run.stderr}`);
  return { ok: true, stdout: run.stdout, stderr: '' };
}
