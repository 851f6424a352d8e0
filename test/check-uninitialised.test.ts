// uninitialised: definedness from memcheck traces, reported with the request, object, region,
// fields and bytes, where valgrind says only "ioctl(generic)".
import { describe, expect, it } from 'vitest';
import { KvmTrace } from './support/kvm-trace-builder.js';
import { check, ofRule } from './support/check.js';

describe('uninitialised', () => {
  it('names the field of KVM_SET_REGS that was never set', () => {
    const t = new KvmTrace({ memcheck: true }).standard();
    t.call(5, 'KVM_SET_REGS', { in: { rip: 0x1000n }, undef: [[8, 16]] });
    const f = ofRule(check(t).findings, 'uninitialised');
    expect(f).toHaveLength(1);
    expect(f[0]).toMatchObject({ name: 'KVM_SET_REGS', object: 'vm0/vcpu0', field: 'rbx', region: 'arg', bytes: [8, 16] });
    expect(f[0].message).toBe('KVM_SET_REGS on vm0/vcpu0 reads uninitialised bytes 8..15 of the argument (rbx)');
  });

  it('follows KVM_SET_DEVICE_ATTR\'s addr to the payload', () => {
    const t = new KvmTrace({ memcheck: true }).standard();
    t.call(4, 'KVM_CREATE_DEVICE', { in: { type: t.set.deviceTypes!.vfio }, out: { fd: 9 } });
    t.call(9, 'KVM_SET_DEVICE_ATTR', { in: { group: 1, attr: 1n, addr: 0x7000n }, payloads: { addr: { before: new Uint8Array(4), undef: [[0, 4]] } } });
    const f = ofRule(check(t).findings, 'uninitialised');
    expect(f.map((x) => x.message)).toEqual(['KVM_SET_DEVICE_ATTR on vm0/device0 reads uninitialised bytes 0..3 of the buffer behind addr']);
    expect(f[0].field).toBe('addr');
  });

  it('names the cpuid entry of KVM_SET_CPUID2', () => {
    const t = new KvmTrace({ memcheck: true }).standard();
    const entries = Array.from({ length: 4 }, (_, i) => ({ function: i }));
    t.call(5, 'KVM_SET_CPUID2', { in: { nent: 4, entries }, undef: [[8 + 40 * 3 + 12, 8 + 40 * 3 + 16]] });
    const f = ofRule(check(t).findings, 'uninitialised');
    expect(f.map((x) => x.field)).toEqual(['entries[3].eax']);
  });

  it('ignores undefined bytes the driver only writes (KVM_GET_REGS)', () => {
    const t = new KvmTrace({ memcheck: true }).standard();
    t.call(5, 'KVM_GET_REGS', { undef: [[0, 144]] });
    expect(ofRule(check(t).findings, 'uninitialised')).toEqual([]);
  });
});
