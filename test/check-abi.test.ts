// abi: a 32-bit monitor using a struct whose layout differs between i386 and x86_64.
import { describe, expect, it } from 'vitest';
import { KvmTrace } from './support/kvm-trace-builder.js';
import { check, ofRule } from './support/check.js';

describe('abi', () => {
  it('reports KVM_X86_SET_MSR_FILTER from a 32-bit monitor once', () => {
    const t = new KvmTrace({ abi: 'ilp32' }).standard();
    t.call(4, 'KVM_X86_SET_MSR_FILTER', { in: { flags: 0 } });
    t.call(4, 'KVM_X86_SET_MSR_FILTER', { in: { flags: 0 } });
    const f = ofRule(check(t).findings, 'abi');
    expect(f).toHaveLength(1);
    expect(f[0].message).toMatch(/^KVM_X86_SET_MSR_FILTER: struct kvm_msr_filter is 260 bytes on i386 and 392 on x86_64 \(ranges at 4, x86_64 8\); its number is 0x4104aec6 here and 0x4188aec6 for x86_64/);
  });

  it('is quiet for structs laid out alike on both (kvm_regs)', () => {
    const t = new KvmTrace({ abi: 'ilp32' }).standard();
    t.call(5, 'KVM_GET_REGS');
    expect(ofRule(check(t).findings, 'abi')).toEqual([]);
  });

  it('is quiet for 64-bit monitors', () => {
    const t = new KvmTrace().standard();
    t.call(4, 'KVM_X86_SET_MSR_FILTER', { in: { flags: 0 } });
    expect(ofRule(check(t).findings, 'abi')).toEqual([]);
  });
});
