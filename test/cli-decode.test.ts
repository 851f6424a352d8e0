// `ioctlgrind decode` and `ioctlgrind schemas` as a user runs them.
import { describe, expect, it } from 'vitest';
import { cli } from './support/cli.js';

describe('ioctlgrind decode', () => {
  it('names KVM_GET_REGS with its direction, size, struct and fd kind', () => {
    const r = cli(['decode', '0x8090ae81']);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/KVM_GET_REGS/);
    expect(r.stdout).toMatch(/_IOR/);
    expect(r.stdout).toMatch(/size 144/);
    expect(r.stdout).toMatch(/struct kvm_regs/);
    expect(r.stdout).toMatch(/fd kind\s+vcpu/);
  });

  it('explains a near miss by size', () => {
    const r = cli(['decode', '0x8088ae81']);
    expect(r.stdout).toMatch(/no schema matches/);
    expect(r.stdout).toMatch(/0xae belongs to kvm/);
    expect(r.stdout).toContain('KVM_GET_REGS with size 136; struct kvm_regs is 144 on x86_64 and i386');
  });

  it('refuses a malformed number in one line', () => {
    const r = cli(['decode', 'KVM?']);
    expect(r.status).not.toBe(0);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/not a request number/);
  });

  it('shows the i386 layout of a struct', () => {
    const r = cli(['schemas', 'show', 'kvm_msr_filter', '--abi', 'ilp32']);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/struct kvm_msr_filter: 260 bytes on i386/);
  });

  it('shows an ioctl with per-field directions', () => {
    const r = cli(['schemas', 'show', 'KVM_CREATE_DEVICE']);
    expect(r.stdout).toMatch(/fd\s+out/);
    expect(r.stdout).toMatch(/type\s+in/);
  });

  it('lists the schema sets', () => {
    const r = cli(['schemas', 'list']);
    expect(r.stdout).toMatch(/kvm-linux: .*158 ioctls/);
  });
});
