// MSHV: the v2 partition struct read through the v1 number, and the 2020 RFC's REQUEST_VERSION,
// whose number mshv_vtl reuses for CHECK_EXTENSION, against the upstream driver.
import { describe, expect, it } from 'vitest';
import { KvmTrace } from './support/kvm-trace-builder.js';
import { check } from './support/check.js';

function mshv(): KvmTrace {
  return new KvmTrace({ schemaSets: ['mshv-root'] }, 4242, 'mshv-root').open('/dev/mshv', 3);
}

describe('MSHV', () => {
  it('notes the 64 bytes MSHV_CREATE_PARTITION reads through a 16-byte number when pt_flags asks for v2', () => {
    const t = mshv().call(3, 'MSHV_CREATE_PARTITION', { in: { pt_flags: 1n << 3n }, ret: 4 });
    const notes = check(t).findings.filter((f) => f.rule === 'struct-size');
    expect(notes.map((f) => f.message)).toEqual(['MSHV_CREATE_PARTITION (v2): the driver reads 64 bytes (struct mshv_create_partition_v2) through a number that encodes 16']);
    expect(t.events[1].type === 'ioctl' && t.events[1].regions[0].length).toBe(64);
  });

  it('is quiet about v1', () => {
    const t = mshv().call(3, 'MSHV_CREATE_PARTITION', { in: { pt_flags: 0n }, ret: 4 });
    expect(check(t).findings.filter((f) => f.rule === 'struct-size')).toEqual([]);
  });

  it('names both meanings of 0x4004b800 when a monitor asks the upstream driver for it', () => {
    const t = mshv().call(3, 'MSHV_REQUEST_VERSION', { from: 'mshv-rfc2020', in: 1 });
    const errors = check(t).findings.filter((f) => f.severity === 'error');
    expect(errors.map((f) => f.message)).toEqual([expect.stringMatching(/^MSHV_\w+ \(0x4004b800\) comes from mshv-(vtl|rfc2020) \(and MSHV_\w+ in mshv-(vtl|rfc2020)\); the driver's mshv-root has no such request$/)]);
    expect(errors[0].message).toContain('MSHV_CHECK_EXTENSION');
    expect(errors[0].message).toContain('MSHV_REQUEST_VERSION');
  });
});
