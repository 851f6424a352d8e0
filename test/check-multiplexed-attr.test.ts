// multiplexed-attr: device attributes resolved through the device type from the object graph.
import { describe, expect, it } from 'vitest';
import { KvmTrace } from './support/kvm-trace-builder.js';
import { check, ofRule } from './support/check.js';

function vfioTrace(): KvmTrace {
  const t = new KvmTrace().standard();
  t.call(4, 'KVM_CREATE_DEVICE', { in: { type: t.set.deviceTypes!.vfio }, out: { fd: 9 } });
  return t;
}

describe('multiplexed-attr', () => {
  it('sizes a VFIO group attribute by the device type and accepts it', () => {
    const t = vfioTrace();
    t.call(9, 'KVM_SET_DEVICE_ATTR', { in: { group: 1, attr: 1n, addr: 0x7000n }, payloads: { addr: { before: Uint8Array.of(11, 0, 0, 0) } } });
    expect(ofRule(check(t).findings, 'multiplexed-attr')).toEqual([]);
  });

  it('reports a group/attr the device type does not have, with where it would mean something', () => {
    const t = vfioTrace();
    t.call(9, 'KVM_SET_DEVICE_ATTR', { in: { group: 1, attr: 9n, addr: 0x7000n }, ret: -1, errno: 6 });
    t.call(9, 'KVM_SET_DEVICE_ATTR', { in: { group: 0, attr: 0n, addr: 0x7000n }, ret: -1, errno: 6 });
    const f = ofRule(check(t).findings, 'multiplexed-attr');
    expect(f.map((x) => x.message)).toEqual([
      'KVM_SET_DEVICE_ATTR group 0x1 attr 0x9 is not known for device type vfio; it means something on arm-vgic-v2 (4 bytes), arm-vgic-v3 (4 bytes), flic (0 bytes), xive (0 bytes)',
      'KVM_SET_DEVICE_ATTR group 0x0 attr 0x0 is not known for device type vfio; it means something on system (8 bytes), vcpu (8 bytes), arm-vgic-v2 (8 bytes), arm-vgic-v3 (8 bytes), arm-vgic-its (8 bytes)',
    ]);
    expect(f[0].object).toBe('vm0/device0');
  });

  it('says why a payload cannot be sized on an fd the trace never saw created', () => {
    const t = new KvmTrace().standard();
    t.call(12, 'KVM_GET_DEVICE_ATTR', { in: { group: 1, attr: 1n, addr: 0x7000n } });
    const f = ofRule(check(t).findings, 'multiplexed-attr');
    expect(f).toHaveLength(1);
    expect(f[0].message).toMatch(/the payload cannot be sized: this fd's object was never created in the trace \(recording started late, or the fd came from another process\)/);
    expect(f[0].message).toMatch(/4 bytes on vfio/);
  });

  it('resolves the /dev/kvm system attribute and probes with HAS_DEVICE_ATTR freely', () => {
    const t = new KvmTrace().standard();
    t.call(3, 'KVM_HAS_DEVICE_ATTR', { in: { group: 7, attr: 7n } , ret: -1, errno: 6 });
    t.call(3, 'KVM_GET_DEVICE_ATTR', { in: { group: 0, attr: 0n, addr: 0x7000n }, payloads: { addr: { after: new Uint8Array(8) } } });
    expect(ofRule(check(t).findings, 'multiplexed-attr')).toEqual([]);
  });

  it('rejects a ONE_REG id whose size bits name no register size', () => {
    const t = new KvmTrace().standard();
    t.call(5, 'KVM_GET_ONE_REG', { in: { id: 0x00f0000000000001n, addr: 0x7000n }, ret: -1, errno: 22 });
    const f = ofRule(check(t).findings, 'multiplexed-attr');
    expect(f.map((x) => x.message)).toEqual(['KVM_GET_ONE_REG id 0xf is not known']);
  });
});
