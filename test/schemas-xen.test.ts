// The Xen privcmd schema set against the facts, against the kernel's own <xen/privcmd.h> where this
// machine has it, and regenerated from schemas/xen/privcmd.h as committed.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SchemaRegistry } from '../schemas/registry.js';
import { generateFamilySet } from '../schemas/generate/family.js';
import { XEN_SETS } from '../schemas/generate/xen.js';
import { serializeSet } from '../schemas/generate/serialize.js';
import { dataPath } from '../schemas/paths.js';
import { compileAndRun, hasGcc, hasGcc32 } from './support/toolchain.js';

const set = SchemaRegistry.default().set('xen-privcmd');
const io = (name: string) => set.ioctls.find((i) => i.name === name)!;

// From abi-facts.md: x86_64 numbers, and the i386 struct sizes.
const LP64: Record<string, number> = {
  IOCTL_PRIVCMD_HYPERCALL: 0x00305000,
  IOCTL_PRIVCMD_MMAP: 0x00105002,
  IOCTL_PRIVCMD_MMAPBATCH: 0x00185003,
  IOCTL_PRIVCMD_MMAPBATCH_V2: 0x00205004,
  IOCTL_PRIVCMD_DM_OP: 0x00105005,
  IOCTL_PRIVCMD_RESTRICT: 0x00025006,
  IOCTL_PRIVCMD_MMAP_RESOURCE: 0x00205007,
  IOCTL_PRIVCMD_IRQFD: 0x40185008,
  IOCTL_PRIVCMD_IOEVENTFD: 0x40305009,
};
const ILP32_SIZES: Record<string, number> = { privcmd_mmap: 12, privcmd_mmapbatch: 20, privcmd_mmapbatch_v2: 24, privcmd_dm_op: 8, privcmd_dm_op_buf: 8 };

describe('Xen privcmd', () => {
  it('has the x86_64 numbers of the facts', () => {
    expect(Object.fromEntries(set.ioctls.map((i) => [i.name, i.numbers.lp64]))).toEqual(LP64);
  });

  it('shrinks the pointer-bearing structs on i386, so their numbers change', () => {
    for (const [name, size] of Object.entries(ILP32_SIZES)) expect(set.types.ilp32![name].size, name).toBe(size);
    for (const name of ['IOCTL_PRIVCMD_MMAP', 'IOCTL_PRIVCMD_MMAPBATCH', 'IOCTL_PRIVCMD_MMAPBATCH_V2', 'IOCTL_PRIVCMD_DM_OP']) {
      expect(io(name).numbers.ilp32, name).not.toBe(io(name).numbers.lp64);
    }
    expect(io('IOCTL_PRIVCMD_MMAP').numbers.ilp32).toBe(0x000c5002);
    expect(io('IOCTL_PRIVCMD_DM_OP').numbers.ilp32).toBe(0x00085005);
    for (const name of ['IOCTL_PRIVCMD_HYPERCALL', 'IOCTL_PRIVCMD_RESTRICT', 'IOCTL_PRIVCMD_MMAP_RESOURCE', 'IOCTL_PRIVCMD_IRQFD', 'IOCTL_PRIVCMD_IOEVENTFD']) {
      expect(io(name).numbers.ilp32, name).toBe(io(name).numbers.lp64);
    }
  });

  it('marks _IOC_NONE numbers with a size, and takes directions from the fields', () => {
    expect(io('IOCTL_PRIVCMD_MMAPBATCH').encoding).toMatchObject({ dir: '_IO', noneWithSize: true, type: 0x50, nr: 3 });
    expect(io('IOCTL_PRIVCMD_IRQFD').encoding.noneWithSize).toBeUndefined();
    const arr = io('IOCTL_PRIVCMD_MMAPBATCH').arg;
    expect(arr.kind === 'pointer' && arr.pointers![0]).toEqual({ field: 'arr', dir: 'inout', size: { kind: 'field', field: 'num', scale: 8, scaleByAbi: { lp64: 8, ilp32: 4 } } });
  });

  it('follows dm_op\'s two levels of buffers', () => {
    const arg = io('IOCTL_PRIVCMD_DM_OP').arg;
    if (arg.kind !== 'pointer') throw new Error('pointer expected');
    expect(arg.pointers).toEqual([
      { field: 'ubufs', dir: 'in', type: { kind: 'struct', name: 'privcmd_dm_op_buf' }, size: { kind: 'field', field: 'num', scale: 16, scaleByAbi: { lp64: 16, ilp32: 8 } } },
      { field: 'ubufs[].uptr', countField: 'num', dir: 'inout', size: { kind: 'field', field: 'ubufs[].size' } },
    ]);
  });
});

const systemHeader = existsSync('/usr/include/xen/privcmd.h');

describe.skipIf(!(hasGcc && systemHeader))('against the kernel\'s <xen/privcmd.h> on this machine', () => {
  // The uapi header includes the kernel-internal <xen/interface/xen.h> for two typedefs; supply them
  // (domid_t is 16 bits, xen_pfn_t an unsigned long on x86).
  const stub = mkdtempSync(join(tmpdir(), 'ioctlgrind-xen-'));
  mkdirSync(join(stub, 'xen/interface'), { recursive: true });
  writeFileSync(join(stub, 'xen/interface/xen.h'), '#include <linux/types.h>\ntypedef __u16 domid_t;\ntypedef unsigned long xen_pfn_t;\n');
  function compiled(flags: string[]): Map<string, number> {
    flags = [...flags, '-I', stub];
    const src = readFileSync('/usr/include/xen/privcmd.h', 'utf8');
    const names = Object.keys(LP64).filter((n) => new RegExp(`#define\\s+${n}\\b`).test(src));
    const body = names.map((n) => `printf("${n} %u\\n", (unsigned)${n});`).join('\n');
    const r = compileAndRun(`#include <stdio.h>\n#include <linux/ioctl.h>\n#include <xen/privcmd.h>\nint main(void){\n${body}\nreturn 0;}\n`, flags);
    expect(r.ok, r.stderr).toBe(true);
    return new Map(r.stdout.trim().split('\n').map((l) => { const [n, v] = l.split(' '); return [n, Number(v)]; }));
  }
  it('agrees on x86_64', () => {
    const m = compiled(['-m64']);
    expect(m.size).toBeGreaterThanOrEqual(7);
    for (const [n, v] of m) expect(io(n).numbers.lp64, n).toBe(v);
  });
  it.skipIf(!hasGcc32)('agrees on i386', () => {
    for (const [n, v] of compiled(['-m32'])) expect(io(n).numbers.ilp32, n).toBe(v);
  });
});

describe.skipIf(!(hasGcc && hasGcc32))('regenerating xen-privcmd from schemas/xen/privcmd.h', () => {
  it('gives the committed set', () => {
    const committed = JSON.parse(readFileSync(dataPath('data/xen-privcmd.json'), 'utf8'));
    const g = generateFamilySet(XEN_SETS[0]);
    if ('skipped' in g) throw new Error(g.skipped);
    const fresh = JSON.parse(serializeSet(g.set));
    for (const key of ['ioctls', 'types', 'constants', 'subtables', 'protocol', 'objects', 'abis'] as const) expect(fresh[key], key).toEqual(committed[key]);
  }, 60_000);
});
