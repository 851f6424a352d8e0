// Offsets and sizes in the schema data agree with offsetof/sizeof from the compiler, per ABI.
import { describe, expect, it } from 'vitest';
import type { Abi } from '../schemas/model.js';
import { SchemaRegistry } from '../schemas/registry.js';
import { compileAndRun, hasGcc, hasGcc32, hasKvmHeaders } from './support/toolchain.js';

const STRUCTS = ['kvm_regs', 'kvm_sregs', 'kvm_run', 'kvm_msrs', 'kvm_cpuid2', 'kvm_device_attr', 'kvm_one_reg', 'kvm_msr_filter', 'kvm_userspace_memory_region', 'kvm_dirty_log', 'kvm_xen_hvm_attr', 'kvm_vcpu_events'];

function check(abi: Abi, flags: string[]): void {
  const set = SchemaRegistry.default().set('kvm-linux');
  const layouts = set.types[abi]!;
  const lines: string[] = [];
  for (const s of STRUCTS) {
    lines.push(`printf("%s %zu %zu\\n", "${s}", sizeof(struct ${s}), _Alignof(struct ${s}));`);
    for (const f of layouts[s].fields) {
      if (!f.name || f.bits) continue;
      lines.push(`printf("%s.%s %zu\\n", "${s}", "${f.name}", offsetof(struct ${s}, ${f.name}));`);
    }
  }
  const src = `#include <stdio.h>\n#include <stddef.h>\n#include <linux/kvm.h>\nint main(void){\n${lines.join('\n')}\nreturn 0;}\n`;
  const r = compileAndRun(src, flags);
  expect(r.ok, r.stderr).toBe(true);
  for (const line of r.stdout.trim().split('\n')) {
    const [what, a, b] = line.split(' ');
    if (b !== undefined) {
      expect(layouts[what].size, `sizeof ${what} on ${abi}`).toBe(Number(a));
      expect(layouts[what].align, `alignof ${what} on ${abi}`).toBe(Number(b));
    } else {
      const [s, f] = what.split('.');
      expect(layouts[s].fields.find((x) => x.name === f)!.offset, `${what} on ${abi}`).toBe(Number(a));
    }
  }
}

describe.skipIf(!(hasGcc && hasKvmHeaders))('layouts against the compiler', () => {
  it('x86_64', () => check('lp64', ['-m64']));
  it.skipIf(!hasGcc32)('i386', () => check('ilp32', ['-m32']));
  it('keeps the ABI differences (kvm_msr_filter holds pointers)', () => {
    const set = SchemaRegistry.default().set('kvm-linux');
    expect(set.types.lp64!.kvm_msr_filter.size).toBe(392);
    expect(set.types.ilp32!.kvm_msr_filter.size).toBe(260);
    expect(set.types.ilp32!.kvm_regs.align).toBe(4);
  });
});
