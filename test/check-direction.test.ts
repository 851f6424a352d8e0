// direction: input-only bytes the driver changed (native), reads and writes against the declared
// direction (exact), and _IOC bits that disagree with the data flow (once per request).
import { describe, expect, it } from 'vitest';
import { KvmTrace } from './support/kvm-trace-builder.js';
import { check, ofRule } from './support/check.js';

describe('direction', () => {
  it('reports input-only bytes the driver changed, by field', () => {
    const t = new KvmTrace().standard();
    t.call(5, 'KVM_SET_REGS', { in: { rip: 0x1000n }, out: { rbx: 0x0807060504030201n } });
    const f = ofRule(check(t).findings, 'direction');
    expect(f).toHaveLength(1);
    expect(f[0].field).toBe('rbx');
    expect(f[0].message).toBe('KVM_SET_REGS on vm0/vcpu0: the driver changed input-only bytes 8..15 of arg (rbx)');
  });

  it('accepts output fields the driver fills (KVM_CREATE_DEVICE fd)', () => {
    const t = new KvmTrace().standard();
    t.call(4, 'KVM_CREATE_DEVICE', { in: { type: t.set.deviceTypes!.vfio }, out: { fd: 9 } });
    expect(ofRule(check(t).findings, 'direction')).toEqual([]);
  });

  it('checks exact read and write sets against each byte\'s declaration', () => {
    const t = new KvmTrace({ recorder: 'emulator', exact: true }).standard();
    // KVM_GET_REGS declares every byte output: reading rax is a finding, writing all is not.
    t.call(5, 'KVM_GET_REGS', { read: [[0, 8]], written: [[0, 144]] });
    // KVM_SET_MSRS: writing entries[0].data (input) is a finding.
    t.call(5, 'KVM_SET_MSRS', { in: { nmsrs: 1, entries: [{ index: 0x10, data: 5n }] }, read: [[0, 24]], written: [[16, 24]] });
    const f = ofRule(check(t).findings, 'direction');
    expect(f.map((x) => x.message)).toEqual([
      'KVM_GET_REGS on vm0/vcpu0: the driver read output-only bytes 0..7 of arg (rax)',
      'KVM_SET_MSRS on vm0/vcpu0: the driver wrote input-only bytes 16..23 of arg (entries[0].data)',
    ]);
  });

  it('notes _IOW requests that write, once per request however often they are used', () => {
    const t = new KvmTrace().standard();
    for (let i = 0; i < 3; i++) t.call(3, 'KVM_GET_DEVICE_ATTR', { in: { group: 0, attr: 0n, addr: 0x7000n }, payloads: { addr: { before: new Uint8Array(8), after: new Uint8Array(8).fill(1) } } });
    const notes = check(t).findings.filter((f) => f.rule === 'direction' && f.severity === 'note');
    expect(notes).toHaveLength(1);
    expect(notes[0].count).toBe(1);
    expect(notes[0].message).toBe('KVM_GET_DEVICE_ATTR is _IOW, yet the driver writes through addr');
  });

  it('notes _IO requests that read a struct (KVM_REINJECT_CONTROL)', () => {
    const t = new KvmTrace().standard();
    t.call(4, 'KVM_REINJECT_CONTROL', { in: { pit_reinject: 1 } });
    const notes = check(t).findings.filter((f) => f.rule === 'direction' && f.severity === 'note');
    expect(notes.map((n) => n.message)).toEqual(['KVM_REINJECT_CONTROL is _IO, yet the driver reads a struct kvm_reinject_control through the argument']);
  });
});
