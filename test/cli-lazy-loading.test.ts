// The command line loads only what the command it runs needs: Node takes about 60 ms to start and
// every module more adds to each command (the emulated core alone took 150 ms); for `record` that
// is time the user waits on top of the target's own.

import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { CLI } from './support/cli.js';

/** A module-resolution hook that names on stderr every module the command loads. */
const HOOK = `data:text/javascript,import{register}from"node:module";register(${JSON.stringify(
  'data:text/javascript,export async function resolve(s,c,n){const r=await n(s,c);process.stderr.write("loaded "+r.url+"\\n");return r}',
)})`;

function modules(args: string[]): string[] {
  const r = spawnSync(process.execPath, ['--import', HOOK, CLI, ...args], { encoding: 'utf8' });
  expect(r.status, r.stderr).toBe(0);
  return r.stderr.split('\n').filter((l) => l.startsWith('loaded ')).map((l) => l.slice('loaded '.length));
}

const EMULATED_CORE = /\/(iced-x86|dist\/vmx\/(cpu|kvm|haxm))\//;
const TRACES = /\/(msgpackr|better-sqlite3)\//;

describe('the command line loads what each command needs', () => {
  it('loads neither the emulated core nor the trace codec nor the schemas for --version', () => {
    const seen = modules(['--version']);
    expect(seen.some((m) => m.endsWith('/dist/cli/main.js'))).toBe(true); // the hook sees the command's modules
    expect(seen.filter((m) => EMULATED_CORE.test(m) || TRACES.test(m) || m.includes('/dist/schemas/registry.js'))).toEqual([]);
  });

  it('loads the schemas but not the emulated core or the trace codec for decode', () => {
    const seen = modules(['decode', '0xae80']);
    expect(seen.some((m) => m.includes('/dist/schemas/registry.js'))).toBe(true);
    expect(seen.filter((m) => EMULATED_CORE.test(m) || TRACES.test(m))).toEqual([]);
  });

  it('loads no emulated core for schemas list', () => {
    expect(modules(['schemas', 'list']).filter((m) => EMULATED_CORE.test(m))).toEqual([]);
  });
});
