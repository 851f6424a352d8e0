// dump names a value argument by its constant where the schema says which constants name it.
import { describe, expect, it } from 'vitest';
import { KvmTrace } from './support/kvm-trace-builder.js';
import { cli } from './support/cli.js';

describe('dump', () => {
  it('prints KVM_CHECK_EXTENSION\'s capability by name', () => {
    const t = new KvmTrace().open('/dev/kvm', 3).call(3, 'KVM_GET_API_VERSION', { ret: 12 });
    t.call(3, 'KVM_CHECK_EXTENSION', { in: t.set.constants.KVM_CAP_USER_MEMORY, ret: 1 });
    const r = cli(['dump', t.write()]);
    expect(r.stdout).toContain('ioctl(3<kvm>, KVM_CHECK_EXTENSION, KVM_CAP_USER_MEMORY) = 1');
  });
});
