// struct-size: a request whose type and nr are known but whose size is not; a driver that touches
// bytes past the declared struct (exact traces); an encoded size that understates the struct.
import { describe, expect, it } from 'vitest';
import { iocEncode } from '../schemas/ioc.js';
import { KvmTrace } from './support/kvm-trace-builder.js';
import { check, ofRule } from './support/check.js';

describe('struct-size', () => {
  it('names the request and both sizes for a struct of the wrong size', () => {
    const t = new KvmTrace().standard();
    t.call(5, 'KVM_GET_REGS', { request: iocEncode('_IOR', 0xae, 0x81, 136), ret: -1, errno: 25 });
    const f = ofRule(check(t).findings, 'struct-size');
    expect(f).toHaveLength(1);
    expect(f[0].message).toBe('KVM_GET_REGS with size 136: struct kvm_regs is 144 on x86_64 and i386');
    expect(f[0].name).toBe('KVM_GET_REGS');
    expect(f[0].object).toBe('vm0/vcpu0');
  });

  it('reports an exact-trace read past the declared struct', () => {
    const t = new KvmTrace({ recorder: 'emulator', exact: true }).standard();
    t.call(5, 'KVM_SET_REGS', { extra: 8, read: [[0, 152]] });
    const f = ofRule(check(t).findings, 'struct-size');
    expect(f).toHaveLength(1);
    expect(f[0].message).toMatch(/the driver read bytes 144\.\.151 of arg, past the 144 bytes KVM_SET_REGS declares/);
  });

  it('notes once that KVM_MEMORY_ENCRYPT_OP encodes less than it reads', () => {
    const t = new KvmTrace().standard();
    t.call(4, 'KVM_MEMORY_ENCRYPT_OP', { in: { id: 0 }, ret: -1, errno: 25 });
    t.call(4, 'KVM_MEMORY_ENCRYPT_OP', { in: { id: 0 }, ret: -1, errno: 25 });
    const notes = check(t).findings.filter((f) => f.rule === 'struct-size' && f.severity === 'note');
    expect(notes).toHaveLength(1);
    expect(notes[0].message).toBe('KVM_MEMORY_ENCRYPT_OP encodes size 8, but the driver reads a struct kvm_sev_cmd of 24 bytes');
  });
});
