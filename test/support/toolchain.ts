// What the machine offers the tests that need real tools; each test says why it skips.

import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

function works(cmd: string, args: string[], input?: string): boolean {
  return spawnSync(cmd, args, { input, stdio: ['pipe', 'ignore', 'ignore'] }).status === 0;
}

function opensReadWrite(path: string): boolean {
  try {
    closeSync(openSync(path, 'r+'));
    return true;
  } catch {
    return false;
  }
}

export const hasGcc = works('gcc', ['--version']);
export const hasGcc32 = hasGcc && works('gcc', ['-m32', '-x', 'c', '-', '-o', '/dev/null'], 'int main(void){return 0;}');
export const hasCc = works('cc', ['--version']);
export const hasCc32 = hasCc && works('cc', ['-m32', '-x', 'c', '-', '-o', '/dev/null'], 'int main(void){return 0;}');
export const hasKvmHeaders = existsSync('/usr/include/linux/kvm.h');
export const hasKvm = opensReadWrite('/dev/kvm');
export const hasNasm = works('nasm', ['-v']);
export const hasValgrind = works('valgrind', ['--version']);

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
