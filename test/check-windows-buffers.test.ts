// Windows numbering: DeviceIoControl passes the buffer lengths apart from the control code, so
// struct-size checks them against the struct the driver reads and writes.
import { describe, expect, it } from 'vitest';
import { KvmTrace } from './support/kvm-trace-builder.js';
import { check } from './support/check.js';

function session(inLength: number): KvmTrace {
  const t = new KvmTrace({ abi: 'llp64', schemaSets: ['haxm-windows'] }, 4242, 'haxm-windows');
  t.open('\\\\.\\HAX', 3).call(3, 'HAX_IOCTL_VERSION', { out: { compat_version: 1, cur_version: 4 }, buffers: { in: 0, out: 8 } });
  t.open('\\\\.\\hax_vm00_vcpu00', 5);
  t.call(5, 'HAX_VCPU_IOCTL_SET_MSRS', { in: { nr_msr: 1 }, buffers: { in: inLength, out: 520 } });
  return t;
}

describe('Windows buffer lengths', () => {
  it('reports an input buffer shorter than the struct the driver reads', () => {
    const f = check(session(512)).findings.filter((x) => x.rule === 'struct-size' && x.severity === 'error');
    expect(f.map((x) => x.message)).toEqual(['HAX_VCPU_IOCTL_SET_MSRS on vm0/vcpu0 passes an input buffer of 512 bytes; the driver reads 520 (struct hax_msr_data)']);
  });

  it('accepts buffers that fit', () => {
    expect(check(session(520)).findings.filter((x) => x.rule === 'struct-size' && x.severity === 'error')).toEqual([]);
  });
});
