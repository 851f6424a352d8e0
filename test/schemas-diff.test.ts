// `schemas diff`: what differs between two sets, and the numbers two ioctls share within one.
import { describe, expect, it } from 'vitest';
import { collisions, diffSets, type IoctlDiff, type SetDiff } from '../schemas/diff.js';
import { SchemaRegistry } from '../schemas/registry.js';
import { cli } from './support/cli.js';

const registry = SchemaRegistry.default();
const diff = (a: string, b: string) => diffSets(registry.set(a), registry.set(b));
const entry = (d: SetDiff, name: string): IoctlDiff | undefined => d.ioctls.find((i) => i.name === name);

describe('QEMU\'s HAXM header against the driver\'s', () => {
  const d = diff('haxm-qemu-linux', 'haxm-linux');

  it('names VCPU_DESTROY\'s direction and number', () => {
    const e = entry(d, 'HAX_VM_IOCTL_VCPU_DESTROY')!;
    expect(e.presence).toBe('both');
    expect(e.changes).toContainEqual({ what: 'direction', a: '_IOW', b: '_IOR' });
    expect(e.changes).toContainEqual({ what: 'number', abi: 'lp64', a: 0x40040083, b: 0x80040083 });
  });

  it('names the v3/v4 requests QEMU lacks', () => {
    const onlyDriver = d.ioctls.filter((i) => i.presence === 'only-b').map((i) => i.name);
    expect(onlyDriver).toEqual(expect.arrayContaining(['HAX_VM_IOCTL_SET_RAM2', 'HAX_VM_IOCTL_PROTECT_RAM', 'HAX_IOCTL_VCPU_DEBUG', 'HAX_VCPU_IOCTL_SET_CPUID', 'HAX_VCPU_IOCTL_GET_CPUID']));
    expect(d.ioctls.filter((i) => i.presence === 'only-a')).toEqual([]);
  });

  it('names the shorter hax_tunnel and its missing members', () => {
    const t = d.types.find((x) => x.name === 'hax_tunnel' && x.abi === 'lp64')!;
    expect(t.details).toContain('size 48 in haxm-qemu-linux, 56 in haxm-linux');
    expect(t.details.join(' ')).toMatch(/fields only in haxm-linux: pagefault, debug, apic_base/);
    expect(d.types.find((x) => x.name === 'fx_layout' && x.abi === 'lp64')!.details).toContain('alignment 8 in haxm-qemu-linux, 16 in haxm-linux');
  });

  it('agrees on the rest', () => {
    expect(entry(d, 'HAX_IOCTL_VERSION')).toBeUndefined();
    expect(d.unchanged).toBeGreaterThanOrEqual(15);
  });
});

describe('Darwin against Linux', () => {
  const d = diff('haxm-darwin', 'haxm-linux');
  it('differs for _IOR, _IOW and _IO numbers only', () => {
    expect(entry(d, 'HAX_IOCTL_CAPABILITY')!.changes).toEqual([{ what: 'number', abi: 'lp64', a: 0x40100023, b: 0x80100023 }]);
    expect(entry(d, 'HAX_VM_IOCTL_NOTIFY_QEMU_VERSION')!.changes).toEqual([{ what: 'number', abi: 'lp64', a: 0x80080084, b: 0x40080084 }]);
    expect(entry(d, 'HAX_VCPU_IOCTL_RUN')!.changes).toEqual([{ what: 'number', abi: 'lp64', a: 0x200000c0, b: 0xc0 }]);
    for (const iowr of ['HAX_IOCTL_VERSION', 'HAX_VM_IOCTL_SET_RAM', 'HAX_VCPU_SET_REGS', 'HAX_VCPU_IOCTL_GET_MSRS']) expect(entry(d, iowr), iowr).toBeUndefined();
    expect(d.ioctls.every((i) => i.presence === 'both' && i.changes.every((c) => c.what === 'number'))).toBe(true);
  });
});

describe('the legacy numbering against the unified proposal', () => {
  const d = diff('haxm-linux', 'haxm-unified-linux');
  it('renumbers every request and keeps the old numbers under __LEGACY', () => {
    expect(entry(d, 'HAX_IOCTL_VERSION')!.changes.find((c) => c.what === 'number')).toMatchObject({ a: 0xc0080020 });
    expect(entry(d, 'HAX_VCPU_GET_REGS')!.changes).toContainEqual({ what: 'direction', a: '_IOWR', b: '_IOR' });
    expect(entry(d, 'HAX_VCPU_SET_REGS')!.changes).toContainEqual({ what: 'direction', a: '_IOWR', b: '_IOW' });
    expect(entry(d, 'HAX_IOCTL_VERSION__LEGACY')).toMatchObject({ presence: 'only-b', legacyOf: { name: 'HAX_IOCTL_VERSION', sameNumbers: true } });
    expect(entry(d, 'HAX_VM_IOCTL_VCPU_CREATE_ORIG')!.presence).toBe('only-a');
  });
});

describe('collisions within a set', () => {
  it('finds Windows function 0x910 used twice, told apart by the device', () => {
    const c = collisions(registry.set('haxm-windows'));
    expect(c).toHaveLength(1);
    expect(c[0]).toMatchObject({ number: 0x40002440, abi: 'llp64', ioctls: [{ name: 'HAX_IOCTL_CAPABILITY', on: ['system'] }, { name: 'HAX_VM_IOCTL_NOTIFY_QEMU_VERSION', on: ['vm'] }] });
    expect(c[0].toldApartBy).toMatch(/object/);
    expect(collisions(registry.set('haxm-linux'))).toEqual([]);
  });

  it('finds KVM_ARM_SET_DEVICE_ADDR and KVM_GET_ONE_REG sharing 0x4010aeab, on a VM and a vCPU', () => {
    const c = collisions(registry.set('kvm-linux')).filter((x) => x.abi === 'lp64');
    expect(c.map((x) => [x.number, x.ioctls.map((i) => i.name).sort(), x.toldApartBy !== null])).toEqual([[0x4010aeab, ['KVM_ARM_SET_DEVICE_ADDR', 'KVM_GET_ONE_REG'], true]]);
  });
});

describe('Xen privcmd: i386 against x86_64', () => {
  it('names mmap, mmapbatch and dm_op, whose numbers differ', () => {
    const xen = registry.set('xen-privcmd');
    const d = diffSets(xen, xen, [['lp64', 'ilp32']]);
    const renumbered = d.ioctls.filter((i) => i.changes.some((c) => c.what === 'number')).map((i) => i.name).sort();
    expect(renumbered).toEqual(['IOCTL_PRIVCMD_DM_OP', 'IOCTL_PRIVCMD_MMAP', 'IOCTL_PRIVCMD_MMAPBATCH', 'IOCTL_PRIVCMD_MMAPBATCH_V2']);
  });
});

describe('ioctlgrind schemas diff', () => {
  it('prints the differences readably', () => {
    const r = cli(['schemas', 'diff', 'haxm-qemu-linux', 'haxm-linux']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/HAX_VM_IOCTL_VCPU_DESTROY \(vm\)\n\s+number on x86_64: 0x40040083 in A, 0x80040083 in B/);
    expect(r.stdout).toMatch(/direction: _IOW in A, _IOR in B/);
    expect(r.stdout).toMatch(/only in haxm-linux \(7\):/);
    expect(r.stdout).toMatch(/hax_tunnel on x86_64\n\s+size 48 in haxm-qemu-linux, 56 in haxm-linux/);
  });

  it('prints collisions and JSON', () => {
    const r = cli(['schemas', 'diff', 'haxm-windows', 'haxm-qemu-windows', '--json']);
    expect(r.status, r.stderr).toBe(0);
    const d = JSON.parse(r.stdout) as SetDiff;
    expect(d.collisions.map((c) => [c.set, c.number])).toEqual([['haxm-windows', 0x40002440], ['haxm-qemu-windows', 0x40002440]]);
    const text = cli(['schemas', 'diff', 'haxm-windows', 'haxm-qemu-windows']).stdout;
    expect(text).toMatch(/0x40002440 in haxm-windows on Windows x64: HAX_IOCTL_CAPABILITY and HAX_VM_IOCTL_NOTIFY_QEMU_VERSION; told apart by the object/);
  });

  it('holds two ABIs of one set against each other', () => {
    const r = cli(['schemas', 'diff', 'xen-privcmd', 'xen-privcmd', '--abi', 'lp64:ilp32']);
    expect(r.stdout).toMatch(/IOCTL_PRIVCMD_MMAP \(system\)\n\s+number on x86_64 \/ i386: 0x105002 in A, 0xc5002 in B/);
  });

  it('refuses an unknown set in one line', () => {
    const r = cli(['schemas', 'diff', 'haxm-linux', 'haxm-beos']);
    expect(r.status).not.toBe(0);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/no schema set named haxm-beos/);
  });
});
