// A monitor that does everything in order gives no findings.
import { describe, expect, it } from 'vitest';
import { KvmTrace } from './support/kvm-trace-builder.js';
import { check } from './support/check.js';

describe('a clean trace', () => {
  it('gives no errors', () => {
    const t = new KvmTrace().open('/dev/kvm', 3).call(3, 'KVM_GET_API_VERSION', { ret: 12 });
    t.call(3, 'KVM_CHECK_EXTENSION', { in: t.set.constants.KVM_CAP_USER_MEMORY, ret: 1 });
    t.call(3, 'KVM_CREATE_VM', { ret: 4 }).call(4, 'KVM_CREATE_VCPU', { in: 0, ret: 5 });
    t.call(4, 'KVM_SET_USER_MEMORY_REGION', { in: { slot: 0, guest_phys_addr: 0n, memory_size: 0x200000n, userspace_addr: 0x7f0000000000n } });
    t.call(4, 'KVM_SET_USER_MEMORY_REGION', { in: { slot: 1, guest_phys_addr: 0x200000n, memory_size: 0x1000n, userspace_addr: 0x7f1000000000n } });
    t.call(5, 'KVM_SET_REGS', { in: { rip: 0x1000n, rflags: 2n } });
    t.call(5, 'KVM_GET_REGS', { out: { rip: 0x1000n } });
    t.call(5, 'KVM_RUN');
    const { findings, result } = check(t);
    expect(findings.filter((f) => f.severity !== 'note')).toEqual([]);
    expect(result.events).toBe(t.events.length);
  });
});
