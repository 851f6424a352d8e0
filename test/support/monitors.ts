// Builds the sample monitors (test/monitors/*.c) and guests (test/monitors/guests/*.asm) with the
// system compiler and nasm into a temp dir, and records them with the real recorder.

import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dataPath } from '../../schemas/paths.js';
import { prepareRawDir, record, type RecordResult } from '../../recorder/record.js';
import { buildRuleTables } from '../../recorder/rules.js';
import { shimPath } from '../../recorder/spawn.js';
import { SchemaRegistry } from '../../schemas/registry.js';
import type { TraceEvent, TraceHeader } from '../../traces/events.js';
import { TraceReader } from '../../traces/reader.js';
import { hasCc, hasCc32, hasKvm, hasNasm } from './toolchain.js';

export { hasCc, hasCc32, hasKvm, hasNasm, hasValgrind } from './toolchain.js';

/** Why the KVM tests cannot run here, or undefined when they can. */
export const kvmSkipReason = !hasKvm
  ? '/dev/kvm cannot be opened read-write'
  : !hasCc || !hasNasm
    ? 'needs cc and nasm to build the sample monitors'
    : undefined;

/** Temp dirs this module made; gone when the test process exits. */
const made: string[] = [];
process.on('exit', () => {
  for (const dir of made) rmSync(dir, { recursive: true, force: true });
});

/** A temp dir removed when the test process exits. */
export function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  made.push(dir);
  return dir;
}

export interface Monitors {
  dir: string;
  kvmmon: string;
  /** The same monitor built with -m32, where the compiler can. */
  kvmmon32?: string;
  guests: { real: string; prot32: string; long64: string; exits: string };
}

let built: Monitors | undefined;

export function buildMonitors(): Monitors {
  if (built) return built;
  const src = dataPath('monitors', 'test');
  const dir = tempDir('ioctlgrind-monitors-');
  const cc = (arch: string, out: string) => execFileSync('cc', [arch, '-O2', '-Wall', '-pthread', '-o', out, join(src, 'kvmmon.c')]);
  const guest = (name: string) => {
    const out = join(dir, `${name}.bin`);
    execFileSync('nasm', ['-f', 'bin', '-I', join(src, 'guests') + '/', '-o', out, join(src, 'guests', `${name}.asm`)]);
    return out;
  };
  cc('-m64', join(dir, 'kvmmon'));
  if (hasCc32) cc('-m32', join(dir, 'kvmmon32'));
  built = {
    dir,
    kvmmon: join(dir, 'kvmmon'),
    kvmmon32: hasCc32 ? join(dir, 'kvmmon32') : undefined,
    guests: { real: guest('real'), prot32: guest('prot32'), long64: guest('long64'), exits: guest('exits') },
  };
  return built;
}

export interface Recording extends RecordResult {
  path: string;
  header: TraceHeader;
  trace: TraceEvent[];
}

/** Records `command` into a fresh trace and reads it back. */
export async function recordCommand(command: string[], options: { memcheck?: boolean } = {}): Promise<Recording> {
  const path = join(tempDir('ioctlgrind-trace-'), 'out.trace');
  // Tables built for each recording: ones kept from a run of other sources must not cut what a test checks.
  const result = await record({ command, output: path, memcheck: options.memcheck ?? false, ruleCache: null });
  const reader = TraceReader.open(path);
  const trace = [...reader];
  return { ...result, path, header: reader.header, trace };
}

/**
 * Runs kvmmon ARGS under the 64-bit shim alone, preloaded by hand (no ingest reads the log while it
 * is written, so no chunk is reused); returns the raw directory and its one log.
 */
export function shimOnly(args: string[]): { dir: string; log: string } {
  const m = buildMonitors();
  const dir = tempDir('ioctlgrind-raw-');
  const rules = prepareRawDir(dir, buildRuleTables(SchemaRegistry.default().set('kvm-linux')));
  const env = { ...process.env, LD_PRELOAD: shimPath('lp64'), IOCTLGRIND_DIR: dir, IOCTLGRIND_RULES: rules };
  const r = spawnSync(m.kvmmon, ['--quiet', ...args], { env });
  if (r.status !== 0) throw new Error(`kvmmon ${args.join(' ')} under the shim exited ${r.status}: ${r.stderr}`);
  const logs = readdirSync(dir).filter((f) => f.startsWith('raw-'));
  if (logs.length !== 1) throw new Error(`expected one raw log, found ${logs.length}`);
  return { dir, log: join(dir, logs[0]) };
}
