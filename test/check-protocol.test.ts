// protocol: the order and the objects the driver expects.
import { describe, expect, it } from 'vitest';
import { KvmTrace } from './support/kvm-trace-builder.js';
import { check, ofRule } from './support/check.js';

const messages = (t: KvmTrace) => ofRule(check(t).findings, 'protocol').map((f) => f.message);

describe('protocol', () => {
  it('wants KVM_GET_API_VERSION first', () => {
    const t = new KvmTrace().open('/dev/kvm', 3).call(3, 'KVM_CREATE_VM', { ret: 4 });
    expect(messages(t)).toEqual(['KVM_CREATE_VM before KVM_GET_API_VERSION: the monitor never checked the API version it talks to']);
  });

  it('wants a capability checked before the request it gates', () => {
    const t = new KvmTrace().standard();
    t.call(4, 'KVM_IRQFD', { in: { fd: 10, gsi: 1 } });
    t.call(3, 'KVM_CHECK_EXTENSION', { in: t.set.constants.KVM_CAP_IOEVENTFD, ret: 1 });
    t.call(4, 'KVM_IOEVENTFD', { in: { fd: 11 } });
    expect(messages(t)).toEqual(['KVM_IRQFD needs KVM_CAP_IRQFD, but no KVM_CHECK_EXTENSION(KVM_CAP_IRQFD) answered yes before it']);
  });

  it('wants registers set before the first run', () => {
    const t = new KvmTrace().open('/dev/kvm', 3).call(3, 'KVM_GET_API_VERSION', { ret: 12 }).call(3, 'KVM_CREATE_VM', { ret: 4 });
    t.call(4, 'KVM_CREATE_VCPU', { in: 1, ret: 5 }).call(5, 'KVM_RUN').call(5, 'KVM_RUN');
    expect(messages(t)).toEqual(['KVM_RUN on vm0/vcpu1 before its registers were set (no KVM_SET_REGS or KVM_SET_SREGS)']);
  });

  it('reports a request on a closed fd', () => {
    const t = new KvmTrace().standard().close(5).call(5, 'KVM_RUN', { ret: -1, errno: 9 });
    expect(messages(t)).toEqual(['KVM_RUN on fd 5, which was closed at seq 5 (it reached vm0/vcpu0)']);
  });

  it('reports a request on the wrong kind of object', () => {
    const t = new KvmTrace().standard().call(5, 'KVM_CREATE_VCPU', { in: 1, ret: -1, errno: 25 });
    expect(messages(t)).toEqual(['KVM_CREATE_VCPU on vm0/vcpu0 (a vcpu): it is valid only on vm']);
  });

  it('reports overlapping memory slots', () => {
    const t = new KvmTrace().standard();
    t.call(3, 'KVM_CHECK_EXTENSION', { in: t.set.constants.KVM_CAP_USER_MEMORY, ret: 1 });
    t.call(4, 'KVM_SET_USER_MEMORY_REGION', { in: { slot: 0, guest_phys_addr: 0n, memory_size: 0x200000n, userspace_addr: 0x7f0000000000n } });
    t.call(4, 'KVM_SET_USER_MEMORY_REGION', { in: { slot: 1, guest_phys_addr: 0x1ff000n, memory_size: 0x2000n, userspace_addr: 0x7f1000000000n }, ret: -1, errno: 17 });
    expect(messages(t)).toEqual(['KVM_SET_USER_MEMORY_REGION slot 1 [0x1ff000, 0x201000) on vm0 overlaps slot 0 [0x0, 0x200000) set at seq 6']);
  });
});

describe('protocol on HAXM', () => {
  function haxm(winfo: number): KvmTrace {
    const t = new KvmTrace({ schemaSets: ['haxm-linux'] }, 4242, 'haxm-linux');
    t.open('/dev/HAX', 3).call(3, 'HAX_IOCTL_VERSION', { out: { compat_version: 1, cur_version: 4 } });
    t.call(3, 'HAX_IOCTL_CAPABILITY', { out: { wstatus: 1, winfo } });
    t.call(3, 'HAX_IOCTL_CREATE_VM');
    t.open('/dev/hax_vm/vm00', 4).call(4, 'HAX_VM_IOCTL_SET_RAM2', { in: { pa_start: 0n, size: 0x1000n, va: 0x7f0000000000n } });
    return t;
  }

  it('takes capabilities from the flags HAX_IOCTL_CAPABILITY reports', () => {
    const t = haxm(0);
    const flag = t.set.constants.HAX_CAP_64BIT_SETRAM;
    expect(messages(t)).toEqual(['HAX_VM_IOCTL_SET_RAM2 needs HAX_CAP_64BIT_SETRAM, but no HAX_IOCTL_CAPABILITY reported HAX_CAP_64BIT_SETRAM before it']);
    expect(messages(haxm(flag))).toEqual([]);
  });
});

describe('protocol: HAXM version negotiation', () => {
  function session(driver: { compat_version: number; cur_version: number }, monitor: { cur_version: number; least_version: number }): KvmTrace {
    const t = new KvmTrace({ schemaSets: ['haxm-linux'] }, 4242, 'haxm-linux');
    t.open('/dev/HAX', 3).call(3, 'HAX_IOCTL_VERSION', { out: driver });
    t.call(3, 'HAX_IOCTL_CAPABILITY', { out: { wstatus: 1, winfo: 0x7f } });
    t.call(3, 'HAX_IOCTL_CREATE_VM');
    t.open('/dev/hax_vm/vm00', 4).call(4, 'HAX_VM_IOCTL_NOTIFY_QEMU_VERSION', { in: monitor });
    return t;
  }

  it('accepts a monitor inside the driver\'s window', () => {
    expect(messages(session({ compat_version: 1, cur_version: 4 }, { cur_version: 4, least_version: 1 }))).toEqual([]);
  });

  it('reports a request newer than the driver\'s API and a monitor outside its window', () => {
    expect(messages(session({ compat_version: 1, cur_version: 1 }, { cur_version: 4, least_version: 2 }))).toEqual([
      'HAX_VM_IOCTL_NOTIFY_QEMU_VERSION needs API 2, but the driver serves at most 1 (HAX_IOCTL_VERSION said 1..1 at seq 1)',
      'the monitor needs at least API 2, newer than the driver\'s (HAX_IOCTL_VERSION said 1..1 at seq 1)',
    ]);
    expect(messages(session({ compat_version: 3, cur_version: 4 }, { cur_version: 2, least_version: 1 }))).toEqual([
      'the monitor speaks API 2, older than the oldest the driver serves (HAX_IOCTL_VERSION said 3..4 at seq 1)',
    ]);
  });
});
