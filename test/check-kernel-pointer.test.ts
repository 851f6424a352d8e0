// kernel-pointer: embedded pointers into the kernel half of the address space.
import { describe, expect, it } from 'vitest';
import { KvmTrace } from './support/kvm-trace-builder.js';
import { check, ofRule } from './support/check.js';

describe('kernel-pointer', () => {
  it('reports kvm_device_attr.addr pointing into the kernel', () => {
    const t = new KvmTrace().standard();
    t.call(3, 'KVM_GET_DEVICE_ATTR', { in: { group: 0, attr: 0n, addr: 0xffff888000001000n }, ret: -1, errno: 14 });
    const f = ofRule(check(t).findings, 'kernel-pointer');
    expect(f.map((x) => [x.field, x.message])).toEqual([['addr', 'KVM_GET_DEVICE_ATTR on kvm: addr = 0xffff888000001000 is a kernel address']]);
  });

  it('accepts user pointers', () => {
    const t = new KvmTrace().standard();
    t.call(3, 'KVM_GET_DEVICE_ATTR', { in: { group: 0, attr: 0n, addr: 0x7ffd00001000n }, payloads: { addr: { after: new Uint8Array(8) } } });
    expect(ofRule(check(t).findings, 'kernel-pointer')).toEqual([]);
  });
});
