// The HAXM schema sets against the facts (abi-facts.md's table, written here as independent numbers),
// and regenerated from schemas/haxm/*.h by the compiler as committed.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { SchemaSet } from '../schemas/model.js';
import { SchemaRegistry } from '../schemas/registry.js';
import { generateFamilySet, MINGW_CC, mingwCompiler } from '../schemas/generate/family.js';
import { HAXM_SETS } from '../schemas/generate/haxm.js';
import { serializeSet } from '../schemas/generate/serialize.js';
import { dataPath } from '../schemas/paths.js';
import { hasGcc, hasGcc32 } from './support/toolchain.js';
import { spawnSync } from 'node:child_process';

const registry = SchemaRegistry.default();
const set = (id: string) => registry.set(id);
const number = (s: SchemaSet, name: string, abi: 'lp64' | 'ilp32' | 'llp64') => s.ioctls.find((i) => i.name === name)?.numbers[abi];

// name: [Linux, Darwin, Windows] from the table (null: not defined there).
const TABLE: Record<string, [number | null, number | null, number | null]> = {
  HAX_IOCTL_VERSION: [0xc0080020, 0xc0080020, 0x40002400],
  HAX_IOCTL_CREATE_VM: [0xc0040021, 0xc0040021, 0x40002404],
  HAX_IOCTL_DESTROY_VM: [0x40040022, 0x80040022, null],
  HAX_IOCTL_CAPABILITY: [0x80100023, 0x40100023, 0x40002440],
  HAX_IOCTL_SET_MEMLIMIT: [0xc0100024, 0xc0100024, 0x40002444],
  HAX_VM_IOCTL_VCPU_CREATE_ORIG: [0x80040080, 0x40040080, null],
  HAX_VM_IOCTL_VCPU_CREATE: [0xc0040080, 0xc0040080, 0x40002408],
  HAX_VM_IOCTL_ALLOC_RAM: [0xc0100081, 0xc0100081, 0x4000240c],
  HAX_VM_IOCTL_SET_RAM: [0xc0180082, 0xc0180082, 0x40002410],
  HAX_VM_IOCTL_VCPU_DESTROY: [0x80040083, 0x40040083, 0x40002414],
  HAX_VM_IOCTL_NOTIFY_QEMU_VERSION: [0x40080084, 0x80080084, 0x40002440],
  HAX_VM_IOCTL_ADD_RAMBLOCK: [0x40180085, 0x80180085, 0x4000244c],
  HAX_VM_IOCTL_SET_RAM2: [0xc0280086, 0xc0280086, 0x40002450],
  HAX_VM_IOCTL_PROTECT_RAM: [0xc0180087, 0xc0180087, 0x40002454],
  HAX_VCPU_IOCTL_RUN: [0x000000c0, 0x200000c0, 0x40002418],
  HAX_VCPU_IOCTL_SET_MSRS: [0xc20800c1, 0xc20800c1, 0x4000241c],
  HAX_VCPU_IOCTL_GET_MSRS: [0xc20800c2, 0xc20800c2, 0x40002420],
  HAX_VCPU_IOCTL_SET_FPU: [0x420000c3, 0x820000c3, 0x40002424],
  HAX_VCPU_IOCTL_GET_FPU: [0x820000c4, 0x420000c4, 0x40002428],
  HAX_VCPU_IOCTL_SETUP_TUNNEL: [0xc01800c5, 0xc01800c5, 0x4000242c],
  HAX_VCPU_IOCTL_INTERRUPT: [0xc00400c6, 0xc00400c6, 0x40002430],
  HAX_VCPU_SET_REGS: [0xc20000c7, 0xc20000c7, 0x40002434],
  HAX_VCPU_GET_REGS: [0xc20000c8, 0xc20000c8, 0x40002438],
  HAX_VCPU_IOCTL_KICKOFF: [null, null, 0x4000243c],
  HAX_IOCTL_VCPU_DEBUG: [0x404800c9, 0x804800c9, 0x40002458],
  HAX_VCPU_IOCTL_SET_CPUID: [0x400800ca, 0x800800ca, 0x4000245c],
  HAX_VCPU_IOCTL_GET_CPUID: [0x400800cb, 0x800800cb, 0x40002460],
};

const SIZES: Record<string, number> = {
  vmx_msr: 16, hax_msr_data: 520, fx_layout: 512, hax_tunnel: 56, hax_fastmmio: 56, hax_module_version: 8,
  hax_capabilityinfo: 16, hax_tunnel_info: 24, hax_set_memlimit: 16, hax_alloc_ram_info: 16, hax_ramblock_info: 24,
  hax_set_ram_info: 24, hax_set_ram_info2: 40, hax_protect_ram_info: 24, hax_qemu_version: 8, hax_debug_t: 72,
  hax_cpuid: 8, hax_cpuid_entry: 40, segment_desc_t: 24, vcpu_state_t: 512,
};

describe('HAXM numbers match the facts', () => {
  for (const [name, [linux, darwin, windows]] of Object.entries(TABLE)) {
    it(name, () => {
      expect(number(set('haxm-linux'), name, 'lp64') ?? null).toBe(linux);
      expect(number(set('haxm-darwin'), name, 'lp64') ?? null).toBe(darwin);
      expect(number(set('haxm-netbsd'), name, 'lp64') ?? null).toBe(darwin);
      expect(number(set('haxm-windows'), name, 'llp64') ?? null).toBe(windows);
    });
  }

  it('the i386 numbers are the x86_64 ones except for the CPUID pointer requests', () => {
    const s = set('haxm-linux');
    for (const io of s.ioctls) {
      if (io.name.endsWith('_CPUID')) expect(io.numbers.ilp32, io.name).toBe((io.numbers.lp64! & ~0x3fff0000) | (4 << 16));
      else expect(io.numbers.ilp32, io.name).toBe(io.numbers.lp64);
    }
  });

  it('QEMU\'s copy: VCPU_DESTROY is _IOW, and the v3/v4 requests are missing', () => {
    const q = set('haxm-qemu-linux');
    expect(number(q, 'HAX_VM_IOCTL_VCPU_DESTROY', 'lp64')).toBe(0x40040083);
    expect(number(set('haxm-qemu-darwin'), 'HAX_VM_IOCTL_VCPU_DESTROY', 'lp64')).toBe(0x80040083);
    for (const missing of ['HAX_VM_IOCTL_SET_RAM2', 'HAX_VM_IOCTL_PROTECT_RAM', 'HAX_IOCTL_VCPU_DEBUG', 'HAX_VCPU_IOCTL_SET_CPUID', 'HAX_IOCTL_SET_MEMLIMIT', 'HAX_VM_IOCTL_VCPU_CREATE_ORIG']) {
      expect(q.ioctls.some((i) => i.name === missing), missing).toBe(false);
    }
    expect(set('haxm-qemu-windows').ioctls.some((i) => i.name === 'HAX_VCPU_IOCTL_KICKOFF')).toBe(false);
    expect(q.types.lp64!.hax_tunnel.size).toBe(48);
    expect(q.types.lp64!.fx_layout.align).toBe(8);
  });
});

describe('HAXM layouts', () => {
  it('have the sizes of the facts on every ABI', () => {
    for (const [id, abi] of [['haxm-linux', 'lp64'], ['haxm-linux', 'ilp32'], ['haxm-windows', 'llp64'], ['haxm-darwin', 'lp64']] as const) {
      const types = set(id).types[abi]!;
      for (const [name, size] of Object.entries(SIZES)) expect(types[name]?.size, `${name} on ${id} ${abi}`).toBe(size);
    }
  });

  it('place the fields where the facts say', () => {
    const t = set('haxm-linux').types.lp64!;
    const at = (s: string, f: string) => t[s].fields.find((x) => x.name === f)?.offset;
    expect(at('hax_tunnel', 'apic_base')).toBe(48);
    expect(at('hax_tunnel', 'io')).toBe(24);
    expect(at('vcpu_state_t', '_rip')).toBe(128);
    expect(at('vcpu_state_t', '_idt')).toBe(360);
    expect(at('vcpu_state_t', '_efer')).toBe(472);
    expect(at('vcpu_state_t', '_interruptibility')).toBe(504);
    expect(at('fx_layout', 'mxcsr')).toBe(24);
    expect(at('fx_layout', 'pad')).toBe(416);
    expect(at('hax_set_ram_info', 'va')).toBe(16);
    expect(t.fx_layout.align).toBe(16);
    expect(t.hax_msr_data.align).toBe(1); // PACKED
    expect(set('haxm-windows').types.llp64!.hax_msr_data.align).toBe(8); // PACKED is empty for MSVC
  });
});

describe('HAXM semantics', () => {
  it('gates requests on capability flags and gives the flags as constants', () => {
    const s = set('haxm-linux');
    const cap = (n: string) => s.ioctls.find((i) => i.name === n)!.capability;
    expect(cap('HAX_VM_IOCTL_ADD_RAMBLOCK')).toBe('HAX_CAP_64BIT_RAMBLOCK');
    expect(cap('HAX_VM_IOCTL_SET_RAM2')).toBe('HAX_CAP_64BIT_SETRAM');
    expect(cap('HAX_VM_IOCTL_PROTECT_RAM')).toBe('HAX_CAP_RAM_PROTECTION');
    expect(cap('HAX_IOCTL_VCPU_DEBUG')).toBe('HAX_CAP_DEBUG');
    expect(cap('HAX_VCPU_IOCTL_SET_CPUID')).toBe('HAX_CAP_CPUID');
    expect(s.constants).toMatchObject({ HAX_CAP_64BIT_RAMBLOCK: 8, HAX_CAP_CPUID: 0x200, HAX_CUR_VERSION: 4, HAX_COMPAT_VERSION: 1, HAX_EXIT_DEBUG: 11, HAX_RAM_INFO_INVALID: 0x80 });
  });

  it('names its protocol requests; capabilities are flags HAX_IOCTL_CAPABILITY writes to winfo', () => {
    expect(set('haxm-linux').protocol).toEqual({
      version: 'HAX_IOCTL_VERSION',
      versionFields: { compat: 'compat_version', current: 'cur_version' },
      monitorVersion: { request: 'HAX_VM_IOCTL_NOTIFY_QEMU_VERSION', current: 'cur_version', least: 'least_version' },
      capabilityFlags: { request: 'HAX_IOCTL_CAPABILITY', field: 'winfo' },
      setRegisters: ['HAX_VCPU_SET_REGS'],
      hostQueries: ['HAX_IOCTL_VERSION', 'HAX_IOCTL_CAPABILITY'],
      setCpuid: ['HAX_VCPU_IOCTL_SET_CPUID'],
    });
    expect(set('haxm-qemu-linux').protocol!.setCpuid).toBeUndefined();
  });

  it('reads hax_cpuid through a pointer to a pointer on POSIX, directly on Windows', () => {
    const posix = set('haxm-linux').ioctls.find((i) => i.name === 'HAX_VCPU_IOCTL_SET_CPUID')!;
    expect(posix.arg).toMatchObject({ kind: 'pointer', type: { kind: 'scalar', scalar: 'ptr' } });
    if (posix.arg.kind !== 'pointer') throw new Error('pointer expected');
    expect(posix.arg.pointers![0]).toMatchObject({ field: '*', type: { kind: 'struct', name: 'hax_cpuid' }, size: { kind: 'field', field: 'total', of: 'pointee', scale: 40, add: 8 } });
    const win = set('haxm-windows').ioctls.find((i) => i.name === 'HAX_VCPU_IOCTL_SET_CPUID')!;
    expect(win.arg).toMatchObject({ kind: 'pointer', type: { kind: 'struct', name: 'hax_cpuid' }, tail: { field: 'entries', countField: 'total' } });
  });

  it('gives Windows requests their DeviceIoControl buffer lengths', () => {
    const w = set('haxm-windows');
    const buffers = (n: string) => w.ioctls.find((i) => i.name === n)!.buffers!.llp64;
    expect(buffers('HAX_IOCTL_VERSION')).toEqual({ in: 0, out: 8 });
    expect(buffers('HAX_VCPU_SET_REGS')).toEqual({ in: 512, out: 0 });
    expect(buffers('HAX_VCPU_IOCTL_GET_MSRS')).toEqual({ in: 520, out: 520 });
    expect(w.ioctls.find((i) => i.name === 'HAX_VCPU_IOCTL_KICKOFF')!.encoding).toMatchObject({ numbering: 'windows', deviceType: 0x4000, function: 0x90f, method: 0, access: 0 });
  });

  it('describes the run page: the exit statuses and the union member each fills', () => {
    const rp = set('haxm-linux').runPage!;
    expect(rp).toMatchObject({ type: 'hax_tunnel', reasonField: '_exit_status' });
    expect(rp.exits.find((e) => e.name === 'HAX_EXIT_IO')).toEqual({ name: 'HAX_EXIT_IO', value: 1, member: 'io' });
    expect(rp.exits.find((e) => e.name === 'HAX_EXIT_PAGEFAULT')).toEqual({ name: 'HAX_EXIT_PAGEFAULT', value: 10, member: 'pagefault' });
    expect(set('haxm-qemu-linux').runPage!.exits.map((e) => e.value).at(-1)).toBe(9);
  });

  it('keeps the legacy numbers beside the unified ones and says what is unverified', () => {
    const u = set('haxm-unified-linux');
    expect(number(u, 'HAX_IOCTL_VERSION__LEGACY', 'lp64')).toBe(0xc0080020);
    expect(number(u, 'HAX_IOCTL_VERSION', 'lp64')).not.toBe(0xc0080020);
    expect(u.ioctls.find((i) => i.name === 'HAX_VCPU_GET_REGS')!.encoding.dir).toBe('_IOR');
    expect(u.ioctls.find((i) => i.name === 'HAX_VCPU_SET_REGS')!.encoding.dir).toBe('_IOW');
    expect(u.ioctls.some((i) => i.name.startsWith('HAX_VCPU_IOCTL_KICKOFF') || i.name.startsWith('HAX_VM_IOCTL_VCPU_CREATE_ORIG'))).toBe(false);
    expect(u.notes!.join(' ')).toMatch(/not verified/);
    expect(set('haxm-unified-windows').ioctls.find((i) => i.name === 'HAX_IOCTL_VERSION')!.encoding.function).toBe(0x800);
  });
});

// ---- regeneration ---------------------------------------------------------------------------

const hasMingw = spawnSync(mingwCompiler(), ['--version']).status === 0;

describe('without the mingw-w64 cross compiler', () => {
  it('skips the Windows sets with a message that says what to install', () => {
    const saved = process.env.IOCTLGRIND_MINGW_CC;
    process.env.IOCTLGRIND_MINGW_CC = 'ioctlgrind-no-such-mingw-gcc';
    try {
      const g = generateFamilySet(HAXM_SETS.find((s) => s.id === 'haxm-windows')!);
      expect(g).toEqual({ skipped: expect.stringMatching(/^haxm-windows: skipped: ioctlgrind-no-such-mingw-gcc is not installed, so llp64 \(Windows x64\) layouts cannot be measured \(Debian: apt-get install gcc-mingw-w64-x86-64\)$/) });
    } finally {
      if (saved === undefined) delete process.env.IOCTLGRIND_MINGW_CC;
      else process.env.IOCTLGRIND_MINGW_CC = saved;
    }
  });
});

describe.skipIf(!hasGcc)('regenerating the HAXM sets from schemas/haxm/*.h', () => {
  for (const spec of HAXM_SETS) {
    const needs32 = spec.abis.includes('ilp32');
    const needsMingw = spec.abis.includes('llp64');
    it.skipIf((needs32 && !hasGcc32) || (needsMingw && !hasMingw))(`${spec.id}${needsMingw ? ` (needs ${MINGW_CC}${hasMingw ? '' : ', missing here'})` : ''}`, () => {
      const committed = JSON.parse(readFileSync(dataPath(`data/${spec.id}.json`), 'utf8'));
      const g = generateFamilySet(spec);
      if ('skipped' in g) throw new Error(g.skipped);
      const fresh = JSON.parse(serializeSet(g.set));
      for (const key of ['ioctls', 'types', 'constants', 'subtables', 'protocol', 'runPage', 'objects', 'abis', 'numbering'] as const) expect(fresh[key], key).toEqual(committed[key]);
    }, 60_000);
  }
});
