// Every KVM request in the system's linux/kvm.h decodes by the number the compiler gives it.
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { SchemaRegistry } from '../schemas/registry.js';
import { requestMacros } from '../schemas/generate/kvm.js';
import { compileAndRun, hasGcc, hasGcc32, hasKvmHeaders } from './support/toolchain.js';

const ready = hasGcc && hasKvmHeaders;

function headerRequests(): string[] {
  const out = execFileSync('gcc', ['-dM', '-E', '-x', 'c', '-'], { input: '#include <linux/kvm.h>\n', encoding: 'utf8' });
  const macros = new Map<string, string>();
  for (const line of out.split('\n')) {
    const m = /^#define (\w+) (.*)$/.exec(line);
    if (m) macros.set(m[1], m[2]);
  }
  return requestMacros(macros).map((r) => r.name);
}

function compiledNumbers(names: string[], flags: string[]): Map<string, number> {
  // Requests whose struct only another architecture defines do not compile here: drop the lines
  // gcc names and try again.
  let live = [...names];
  for (let round = 0; round < 10; round++) {
    const body = live.map((n) => `printf("${n} %u\\n", (unsigned)${n});`);
    const src = `#include <stdio.h>\n#include <linux/kvm.h>\nint main(void){\n${body.join('\n')}\nreturn 0;}\n`;
    const r = compileAndRun(src, flags);
    if (r.ok) return new Map(r.stdout.trim().split('\n').map((l) => { const [n, v] = l.split(' '); return [n, Number(v)]; }));
    const bad = new Set([...r.stderr.matchAll(/p\.c:(\d+):\d+: error/g)].map((m) => live[Number(m[1]) - 4]));
    if (bad.size === 0) throw new Error(r.stderr);
    live = live.filter((n) => !bad.has(n));
  }
  throw new Error('too many rounds');
}

describe.skipIf(!ready)('KVM requests from linux/kvm.h', () => {
  const registry = SchemaRegistry.default();
  const names = ready ? headerRequests() : [];

  it('covers every _IO*(KVMIO, ...) request of the headers', () => {
    expect(names.length).toBeGreaterThanOrEqual(150);
    const known = new Set(registry.set('kvm-linux').ioctls.map((i) => i.name));
    expect(names.filter((n) => !known.has(n))).toEqual([]);
  });

  it('decodes each x86_64 request by its compiled number', () => {
    const numbers = compiledNumbers(names, ['-m64']);
    expect(numbers.size).toBeGreaterThan(100);
    for (const [name, n] of numbers) {
      const names = registry.candidates(n).filter((c) => c.abi === 'lp64').map((c) => c.ioctl.name);
      expect(names, `${name} = 0x${n.toString(16)}`).toContain(name);
    }
  }, 120_000);

  it.skipIf(!hasGcc32)('decodes each i386 request by its compiled number', () => {
    const numbers = compiledNumbers(names, ['-m32']);
    for (const [name, n] of numbers) {
      const names = registry.candidates(n).filter((c) => c.abi === 'ilp32').map((c) => c.ioctl.name);
      expect(names, `${name} = 0x${n.toString(16)} (i386)`).toContain(name);
    }
  }, 120_000);
});
