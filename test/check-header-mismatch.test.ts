// A HAXM monitor built with QEMU's copy of the header, against the driver: the checker names the
// requests whose numbers differ.
import { describe, expect, it } from 'vitest';
import { KvmTrace } from './support/kvm-trace-builder.js';
import { check } from './support/check.js';

function session(from: string): KvmTrace {
  const t = new KvmTrace({ schemaSets: ['haxm-linux'] }, 4242, 'haxm-linux');
  t.open('/dev/HAX', 3).call(3, 'HAX_IOCTL_VERSION', { from, out: { compat_version: 1, cur_version: 4 } });
  t.call(3, 'HAX_IOCTL_CAPABILITY', { from, out: { wstatus: 1, winfo: 0x7f } });
  t.call(3, 'HAX_IOCTL_CREATE_VM', { from });
  t.open('/dev/hax_vm/vm00', 4).call(4, 'HAX_VM_IOCTL_VCPU_CREATE', { from, in: 0 });
  t.call(4, 'HAX_VM_IOCTL_VCPU_DESTROY', { from, in: 0 });
  t.call(4, 'HAX_VM_IOCTL_VCPU_DESTROY', { from, in: 0 });
  return t;
}

describe('a monitor built against another header', () => {
  it('names the ioctls QEMU\'s HAXM header numbers otherwise than the driver, once each', () => {
    const errors = check(session('haxm-qemu-linux')).findings.filter((f) => f.severity === 'error');
    expect(errors.map((f) => [f.rule, f.name, f.message])).toEqual([
      ['direction', 'HAX_VM_IOCTL_VCPU_DESTROY', 'HAX_VM_IOCTL_VCPU_DESTROY 0x40040083 comes from haxm-qemu-linux: it is _IOW there and _IOR in the driver (haxm-linux numbers it 0x80040083)'],
    ]);
  });

  it('is quiet when the monitor uses the driver\'s own header', () => {
    expect(check(session('haxm-linux')).findings.filter((f) => f.severity === 'error')).toEqual([]);
  });
});

describe('HAXM and Xen interface notes', () => {
  it('notes HAXM\'s GET_CPUID, _IOW yet returning data through the pointer it is given', () => {
    const t = new KvmTrace({ schemaSets: ['haxm-linux'] }, 4242, 'haxm-linux');
    t.open('/dev/HAX', 3).call(3, 'HAX_IOCTL_VERSION', { out: { compat_version: 1, cur_version: 4 } });
    t.call(3, 'HAX_IOCTL_CAPABILITY', { out: { wstatus: 1, winfo: 0x3ff } });
    t.open('/dev/hax_vm00/vcpu00', 5).call(5, 'HAX_VCPU_IOCTL_GET_CPUID', { in: 0x7000n });
    const notes = check(t).findings.filter((f) => f.rule === 'direction' && f.severity === 'note');
    expect(notes.map((f) => f.message)).toContain('HAX_VCPU_IOCTL_GET_CPUID is _IOW, yet the driver writes through the pointer the argument holds');
  });

  it('makes no direction findings of Xen privcmd\'s _IOC_NONE numbers', () => {
    const t = new KvmTrace({ schemaSets: ['xen-privcmd'] }, 4242, 'xen-privcmd');
    t.open('/dev/xen/privcmd', 3).call(3, 'IOCTL_PRIVCMD_MMAPBATCH_V2', { in: { num: 1, dom: 1, addr: 0x7f0000000000n, arr: 0x7000n, err: 0x8000n }, payloads: { arr: { before: new Uint8Array(8) }, err: { before: new Uint8Array(4), after: new Uint8Array(4) } } });
    expect(check(t).findings.filter((f) => f.rule === 'direction')).toEqual([]);
  });
});
