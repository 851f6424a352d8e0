// The rule table the shim reads (format: docs/recorder.md), checked entry by entry for requests
// whose layout differs in kind: a tail, embedded pointers sized by sub-tables, an fd in a field.
// Needs no /dev/kvm.

import { describe, expect, it } from 'vitest';
import { buildRuleTable, OBJ } from '../recorder/rules.js';
import type { Abi } from '../schemas/model.js';
import { SchemaRegistry } from '../schemas/registry.js';

const set = SchemaRegistry.default().set('kvm-linux');
const byName = (name: string) => set.ioctls.find((io) => io.name === name)!;

function table(abi: Abi) {
  const b = buildRuleTable(set, abi);
  const h = (i: number) => b.readUInt32LE(8 + i * 4);
  expect(b.toString('latin1', 0, 8)).toBe('IOGRULE2');
  expect(h(0)).toBe(2);
  const [npaths, pathsOff, nrules, rulesOff, nptrs, ptrsOff, nattrs, attrsOff, , strsOff] = [2, 3, 4, 5, 6, 7, 8, 9, 10, 11].map(h);
  const str = (off: number, len: number) => b.toString('utf8', strsOff + off, strsOff + off + len);
  const rule = (name: string, kind: number) => {
    const request = byName(name).numbers[abi]!;
    for (let i = 0; i < nrules; i++) {
      const o = rulesOff + i * 32;
      if (b.readUInt32LE(o) !== request || b.readUInt8(o + 4) !== kind) continue;
      const ptrFirst = b.readUInt16LE(o + 26);
      const ptrs = Array.from({ length: b.readUInt16LE(o + 28) }, (_, j) => {
        const p = ptrsOff + (ptrFirst + j) * 32;
        const row = { field: b.readUInt16LE(p), width: b.readUInt8(p + 2), dir: b.readUInt8(p + 3), sizeKind: b.readUInt8(p + 4), pOff: b.readUInt16LE(p + 6), role: str(b.readUInt32LE(p + 16), b.readUInt16LE(p + 20)) };
        const count = b.readUInt16LE(p + 22);
        // Only pointers inside array elements say how the array repeats.
        return count ? { ...row, count, stride: b.readUInt16LE(p + 24), flags: b.readUInt8(p + 26), indexAt: b.readUInt8(p + 27) } : row;
      });
      return {
        argkind: b.readUInt8(o + 5), dir: b.readUInt8(o + 6), flags: b.readUInt8(o + 7), argsize: b.readUInt32LE(o + 8),
        retkind: b.readUInt8(o + 12), retField: b.readUInt16LE(o + 14), retType: b.readUInt16LE(o + 16),
        tailCount: b.readUInt16LE(o + 18), tailElem: b.readUInt16LE(o + 22), tailOff: b.readUInt16LE(o + 24), ptrs,
      };
    }
    return undefined;
  };
  const attrs = Array.from({ length: nattrs }, (_, i) => {
    const o = attrsOff + i * 24;
    return { device: b.readUInt32LE(o), group: b.readUInt32LE(o + 4), attr: b.readBigUInt64LE(o + 8), size: b.readUInt32LE(o + 16), dir: b.readUInt8(o + 20) };
  });
  const paths = Array.from({ length: npaths }, (_, i) => ({ path: str(b.readUInt32LE(pathsOff + i * 16), b.readUInt32LE(pathsOff + i * 16 + 4)), kind: b.readUInt8(pathsOff + i * 16 + 8) }));
  return { rule, attrs, paths, abi: h(1) };
}

describe('the rule table', () => {
  it.each(['lp64', 'ilp32'] as const)('holds the %s layouts', (abi) => {
    const t = table(abi);
    expect(t.abi).toBe(abi === 'ilp32' ? 1 : 0);
    expect(t.paths).toContainEqual({ path: '/dev/kvm', kind: OBJ.system });
    // kvm_cpuid2: nent at 0, entries[] of 40-byte kvm_cpuid_entry2 from offset 8.
    expect(t.rule('KVM_SET_CPUID2', OBJ.vcpu)).toMatchObject({ argkind: 2, dir: 1, argsize: 8, tailCount: 0, tailElem: 40, tailOff: 8 });
    // KVM_CREATE_DEVICE returns the device fd in kvm_create_device.fd, its type in .type.
    expect(t.rule('KVM_CREATE_DEVICE', OBJ.vm)).toMatchObject({ flags: 2, retkind: OBJ.device, retField: 4, retType: 0 });
    expect(t.rule('KVM_CREATE_VCPU', OBJ.vm)).toMatchObject({ argkind: 1, flags: 2, retkind: OBJ.vcpu, retField: 0xffff });
    expect(t.rule('KVM_RUN', OBJ.vcpu)).toMatchObject({ argkind: 0, flags: 1 });
    // kvm_device_attr.addr at 16, a u64 in both ABIs, sized by the device-attr sub-table (group at 4).
    const attr = t.rule('KVM_GET_DEVICE_ATTR', OBJ.device)!;
    expect(attr.ptrs).toEqual([{ field: 16, width: 8, dir: 2, sizeKind: 3, pOff: 4, role: 'addr' }]);
    expect(t.rule('KVM_GET_DEVICE_ATTR', OBJ.system)!.ptrs).toHaveLength(1);
    expect(t.rule('KVM_GET_ONE_REG', OBJ.vcpu)!.ptrs).toEqual([{ field: 8, width: 8, dir: 2, sizeKind: 4, pOff: 0, role: 'addr' }]);
    expect(t.rule('KVM_GET_DIRTY_LOG', OBJ.vm)!.ptrs).toEqual([expect.objectContaining({ field: 8, sizeKind: 5, pOff: 0, role: 'dirty_bitmap' })]);
    // VFIO group add (KVM_DEV_TYPE_VFIO 4, group 1, attr 1): an s32 fd; the /dev/kvm XCOMP attribute: a u64.
    expect(t.attrs).toContainEqual({ device: 4, group: 1, attr: 1n, size: 4, dir: 1 });
    expect(t.attrs).toContainEqual({ device: 0xfffffffe, group: 0, attr: 0n, size: 8, dir: 2 });
  });

  it('gives each ABI its own sizes where the layouts differ', () => {
    // struct kvm_msr_filter holds 16 ranges with a pointer each: 392 bytes on lp64, 260 on ilp32.
    expect(table('lp64').rule('KVM_X86_SET_MSR_FILTER', OBJ.vm)).toMatchObject({ argsize: 392 });
    expect(table('ilp32').rule('KVM_X86_SET_MSR_FILTER', OBJ.vm)).toMatchObject({ argsize: 260 });
  });

  it('repeats the pointer of each kvm_msr_filter range over the 16 ranges, sized by its own nmsrs', () => {
    // Ranges from 8 (lp64, 24 bytes each: flags, nmsrs, base, pad, bitmap at 16) or 4 (ilp32, 16
    // bytes: bitmap at 12); one bit per MSR in u64s (size kind 7), nmsrs read in each element (flag 1).
    const common = { dir: 1, sizeKind: 7, role: 'ranges[].bitmap', count: 16, flags: 1, indexAt: 7 };
    expect(table('lp64').rule('KVM_X86_SET_MSR_FILTER', OBJ.vm)!.ptrs).toEqual([{ ...common, field: 24, width: 8, pOff: 12, stride: 24 }]);
    expect(table('ilp32').rule('KVM_X86_SET_MSR_FILTER', OBJ.vm)!.ptrs).toEqual([{ ...common, field: 16, width: 4, pOff: 8, stride: 16 }]);
  });
});
