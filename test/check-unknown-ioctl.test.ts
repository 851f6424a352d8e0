// unknown-ioctl: requests no schema knows on a hypervisor object; other files' ioctls are left alone.
import { describe, expect, it } from 'vitest';
import { iocEncode } from '../schemas/ioc.js';
import { KvmTrace } from './support/kvm-trace-builder.js';
import { check, ofRule } from './support/check.js';

describe('unknown-ioctl', () => {
  it('reports a KVM-typed number no schema knows, with its parts', () => {
    const t = new KvmTrace().standard();
    t.call(5, 'KVM_RUN', { request: iocEncode('_IOWR', 0xae, 0xf7, 16), ret: -1, errno: 25 });
    const f = ofRule(check(t).findings, 'unknown-ioctl');
    expect(f.map((x) => x.message)).toEqual(['unknown ioctl 0xc010aef7 on vm0/vcpu0: _IOWR type 0xae nr 0xf7 size 16 (type 0xae belongs to kvm)']);
  });

  it('leaves a terminal ioctl on another file alone', () => {
    const t = new KvmTrace().standard();
    t.open('/dev/tty', 7).call(7, 'KVM_RUN', { request: 0x5401 });
    expect(check(t).findings.filter((f) => f.severity !== 'note')).toEqual([]);
  });
});
