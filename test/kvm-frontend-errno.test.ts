// The KVM front-end's answers to bad input, against the real /dev/kvm: every scenario runs on both
// back-ends (a fresh VM and vCPU each) and must give the same result and errno.
import { constants } from 'node:os';
import { describe, expect, it } from 'vitest';
import { conventionSregs } from '../vmx/boot.js';
import type { Driver } from '../vmx/driver.js';
import { HostDriver, kvmUnavailable } from '../vmx/host/driver.js';
import { EmulatedKvm } from '../vmx/kvm/frontend.js';
import { KvmClient, type Fields } from '../vmx/monitor/kvm-client.js';
import type { KvmSregs } from '../vmx/state.js';

const noKvm = kvmUnavailable();
const { EFAULT } = constants.errno;

interface Ctx {
  d: Driver;
  k: KvmClient;
  vm: number;
  vcpu: number;
  /** 16 KiB of scratch for arguments and the buffers they point to. */
  buf: number;
  /** 1 MiB, page aligned, for memory slots. */
  ram: number;
}

function setup(d: Driver): Ctx {
  const k = KvmClient.open(d);
  const vm = k.value(k.system, 'KVM_CREATE_VM');
  const vcpu = k.value(vm, 'KVM_CREATE_VCPU', 0);
  return { d, k, vm, vcpu, buf: d.memory.alloc(16384, 4096), ram: d.memory.alloc(1 << 20, 4096) };
}

/** The ioctl with `fields` encoded at the scratch buffer. */
function call(c: Ctx, fd: number, name: string, fields: Fields): { ret: number; errno: number } {
  c.d.memory.write(c.buf, c.k.encodeArg(name, fields));
  return c.k.raw(fd, name, c.buf);
}

const region = (c: Ctx, slot: number, gpa: bigint, size: bigint, uaddr: bigint, flags = 0) =>
  call(c, c.vm, 'KVM_SET_USER_MEMORY_REGION', { slot, flags, guest_phys_addr: gpa, memory_size: size, userspace_addr: uaddr });
const at = (c: Ctx, offset = 0) => BigInt(c.ram + offset);
const attr = (c: Ctx, fd: number, name: string, group: number, which: number, addr: number | bigint) => call(c, fd, name, { flags: 0, group, attr: BigInt(which), addr: BigInt(addr) });
const sregs = (c: Ctx, patch: Fields) => call(c, c.vcpu, 'KVM_SET_SREGS', { ...c.k.struct(c.vcpu, 'KVM_GET_SREGS', {}).out, ...patch });
const vfio = (c: Ctx, flags = 0) => call(c, c.vm, 'KVM_CREATE_DEVICE', { type: 4, flags, fd: 0 });
/** A VFIO device's fd, with the s32 -1 at buf+2048 for attributes to point at. */
function vfioDevice(c: Ctx): number {
  vfio(c);
  c.d.memory.write(c.buf + 2048, new Uint8Array([0xff, 0xff, 0xff, 0xff]));
  return c.k.decode({ kind: 'struct', name: 'kvm_create_device' }, c.d.memory.read(c.buf, 12)).fd as number;
}
const msrs = (c: Ctx, name: string, n: number, index: number) => call(c, c.vcpu, name, { nmsrs: n, entries: Array.from({ length: Math.min(n, 4) }, () => ({ index, data: 5n })) });
const runPage = (c: Ctx) => c.d.mmap(c.vcpu, c.k.value(c.k.system, 'KVM_GET_VCPU_MMAP_SIZE'), 0);

/** Real-mode `code` at 0x1000 in 64 KiB of RAM, registers set to run it; the kvm_run address. */
function withCode(c: Ctx, code: number[], flags = 0): number {
  region(c, 0, 0n, 0x10000n, at(c), flags);
  c.d.memory.write(c.ram + 0x1000, new Uint8Array(code));
  const s = c.k.struct(c.vcpu, 'KVM_GET_SREGS', {}).out;
  c.k.struct(c.vcpu, 'KVM_SET_SREGS', { ...s, cs: { ...(s.cs as Fields), base: 0n, selector: 0 } });
  c.k.struct(c.vcpu, 'KVM_SET_REGS', { rip: 0x1000n, rflags: 2n });
  return runPage(c);
}
const regs = (c: Ctx) => c.k.struct(c.vcpu, 'KVM_GET_REGS', {}).out;

/** Each scenario's result: what the last call returned (ret and errno), plus anything it read back. */
const SCENARIOS: Record<string, (c: Ctx) => unknown> = {
  'an unknown KVM request on /dev/kvm': (c) => c.d.ioctl(c.k.system, 0xaeff, 0),
  'an unknown KVM request on a VM': (c) => c.d.ioctl(c.vm, 0xaeff, 0),
  'an unknown KVM request on a vCPU': (c) => c.d.ioctl(c.vcpu, 0xaeff, 0),
  'a terminal request (TCGETS) on /dev/kvm, a VM and a vCPU': (c) => [c.k.system, c.vm, c.vcpu].map((fd) => c.d.ioctl(fd, 0x5401, 0)),
  'KVM_GET_REGS on a VM fd': (c) => c.d.ioctl(c.vm, c.k.schema('KVM_GET_REGS').numbers.lp64!, c.buf),
  'KVM_CHECK_EXTENSION on a vCPU fd': (c) => c.d.ioctl(c.vcpu, c.k.schema('KVM_CHECK_EXTENSION').numbers.lp64!, 3),
  'KVM_GET_ONE_REG of a 64-bit x86 register id, without KVM_CAP_ONE_REG': (c) => {
    c.d.memory.write(c.buf, c.k.encodeArg('KVM_GET_ONE_REG', { id: BigInt(c.k.constant('KVM_REG_X86')) | (3n << 52n), addr: BigInt(c.buf + 2048) }));
    return [c.k.raw(c.k.system, 'KVM_CHECK_EXTENSION', c.k.constant('KVM_CAP_ONE_REG')), c.d.ioctl(c.vcpu, c.k.schema('KVM_GET_ONE_REG').numbers.lp64!, c.buf)];
  },
  'KVM_CHECK_EXTENSION of an unknown capability': (c) => c.k.raw(c.k.system, 'KVM_CHECK_EXTENSION', 100000),
  'KVM_CREATE_VM of machine type 1': (c) => c.k.raw(c.k.system, 'KVM_CREATE_VM', 1),
  'KVM_CREATE_VCPU of an existing id': (c) => c.k.raw(c.vm, 'KVM_CREATE_VCPU', 0),
  'KVM_CREATE_VCPU of id 5000': (c) => c.k.raw(c.vm, 'KVM_CREATE_VCPU', 5000),
  'KVM_GET_REGS, KVM_SET_REGS and KVM_GET_SREGS into unmapped memory': (c) => ['KVM_GET_REGS', 'KVM_SET_REGS', 'KVM_GET_SREGS'].map((n) => c.k.raw(c.vcpu, n, 0x10)),
  'a memory slot at an unaligned guest address': (c) => region(c, 0, 0x100n, 0x10000n, at(c)),
  'a memory slot of an unaligned size': (c) => region(c, 0, 0n, 0x10010n, at(c)),
  'a memory slot at an unaligned user address': (c) => region(c, 0, 0n, 0x10000n, at(c, 8)),
  'a memory slot with unknown flags': (c) => region(c, 0, 0n, 0x10000n, at(c), 0x80),
  'memory slot 40000': (c) => region(c, 40000, 0n, 0x10000n, at(c)),
  'a memory slot at a kernel address': (c) => region(c, 2, 0x200000n, 0x1000n, 0xffff800000000000n),
  'a memory slot overlapping another': (c) => [region(c, 0, 0n, 0x10000n, at(c)), region(c, 1, 0x8000n, 0x10000n, at(c, 0x20000))],
  'moving a slot, changing its flags, resizing it': (c) => [region(c, 0, 0n, 0x10000n, at(c)), region(c, 0, 0x100000n, 0x10000n, at(c)), region(c, 0, 0x100000n, 0x10000n, at(c), 1), region(c, 0, 0n, 0x20000n, at(c))],
  'deleting a slot that does not exist': (c) => region(c, 7, 0n, 0n, 0n),
  'a read-only slot': (c) => region(c, 4, 0x400000n, 0x1000n, at(c), 2),
  'KVM_GET_DIRTY_LOG of slots without logging, absent and out of range': (c) => {
    region(c, 1, 0n, 0x10000n, at(c));
    return [1, 9, 40000].map((slot) => call(c, c.vm, 'KVM_GET_DIRTY_LOG', { slot, dirty_bitmap: BigInt(c.buf + 4096) }));
  },
  'KVM_GET_DIRTY_LOG of a logging slot': (c) => {
    region(c, 0, 0n, 0x10000n, at(c), 1);
    return call(c, c.vm, 'KVM_GET_DIRTY_LOG', { slot: 0, dirty_bitmap: BigInt(c.buf + 4096) });
  },
  'KVM_GET_DIRTY_LOG after the guest wrote a page, and again': (c) => {
    withCode(c, [0xc6, 0x06, 0x00, 0x30, 0x01, 0xe6, 0xf4], 1); // mov byte [0x3000], 1; out 0xf4, al
    const dirty = () => {
      const r = call(c, c.vm, 'KVM_GET_DIRTY_LOG', { slot: 0, dirty_bitmap: BigInt(c.buf + 4096) });
      return [r, c.d.memory.read(c.buf + 4096, 8)];
    };
    return [c.k.raw(c.vcpu, 'KVM_RUN'), dirty(), dirty()];
  },
  'KVM_SET_TSS_ADDR in the last three pages below 4 GiB': (c) => [c.k.raw(c.vm, 'KVM_SET_TSS_ADDR', 0xfffbd000), c.k.raw(c.vm, 'KVM_SET_TSS_ADDR', 0xffffe000)],
  'KVM_GET_SUPPORTED_CPUID with room for 0 and 1 entries': (c) => [0, 1].map((nent) => call(c, c.k.system, 'KVM_GET_SUPPORTED_CPUID', { nent })),
  'KVM_SET_CPUID2 with 257 and 0 entries': (c) => [257, 0].map((nent) => call(c, c.vcpu, 'KVM_SET_CPUID2', { nent })),
  'KVM_GET_MSRS of 256 entries': (c) => msrs(c, 'KVM_GET_MSRS', 256, 0x174),
  'KVM_GET_MSRS of three known MSRs': (c) => msrs(c, 'KVM_GET_MSRS', 3, 0x174),
  'KVM_GET_MSRS and KVM_SET_MSRS of an unknown MSR': (c) => [msrs(c, 'KVM_GET_MSRS', 2, 0x12345), msrs(c, 'KVM_SET_MSRS', 2, 0x12345)],
  'KVM_GET_CPUID2 with too little room, then enough': (c) => {
    const supported = c.k.struct(c.k.system, 'KVM_GET_SUPPORTED_CPUID', { nent: 256 }).out;
    c.k.struct(c.vcpu, 'KVM_SET_CPUID2', supported);
    const small = call(c, c.vcpu, 'KVM_GET_CPUID2', { nent: 1 });
    const nentAfterE2big = c.k.decode({ kind: 'struct', name: 'kvm_cpuid2' }, c.d.memory.read(c.buf, 8)).nent;
    const got = call(c, c.vcpu, 'KVM_GET_CPUID2', { nent: 256 });
    const nent = c.k.decode({ kind: 'struct', name: 'kvm_cpuid2' }, c.d.memory.read(c.buf, 8)).nent;
    return [small, nentAfterE2big, got, nent === supported.nent];
  },
  'KVM_GET_DEBUGREGS fresh; KVM_SET_DEBUGREGS with flags, a wide DR6, then values read back': (c) => {
    const fresh = c.k.struct(c.vcpu, 'KVM_GET_DEBUGREGS', {}).out;
    const set = (patch: Fields) => call(c, c.vcpu, 'KVM_SET_DEBUGREGS', { db: [1n, 2n, 3n, 4n], dr6: 0xffff0ff0n, dr7: 0x401n, flags: 0n, ...patch });
    const results = [set({ flags: 1n }), set({ dr6: 1n << 32n }), set({})];
    const back = c.k.struct(c.vcpu, 'KVM_GET_DEBUGREGS', {}).out;
    return [fresh.db, fresh.dr6, fresh.dr7, results, back.db, back.dr6, back.dr7];
  },
  'KVM_INTERRUPT of vectors 256 and 32': (c) => [256, 32].map((irq) => call(c, c.vcpu, 'KVM_INTERRUPT', { irq })),
  'KVM_CREATE_DEVICE of unknown and unavailable types': (c) => [999, 3].map((type) => call(c, c.vm, 'KVM_CREATE_DEVICE', { type, flags: 0, fd: 0 })),
  'KVM_CREATE_DEVICE of VFIO, as a test, then twice': (c) => [vfio(c, 1), vfio(c), vfio(c)],
  'VFIO attributes: bad fd, bad address, unknown group, wrong kind of fd': (c) => {
    const dev = vfioDevice(c);
    c.d.memory.write(c.buf + 3072, c.k.encodeArg('KVM_INTERRUPT', { irq: c.vm }));
    return [attr(c, dev, 'KVM_SET_DEVICE_ATTR', 1, 1, c.buf + 2048), attr(c, dev, 'KVM_SET_DEVICE_ATTR', 1, 1, 0x10), attr(c, dev, 'KVM_SET_DEVICE_ATTR', 9, 1, c.buf + 2048), attr(c, dev, 'KVM_SET_DEVICE_ATTR', 1, 1, c.buf + 3072)];
  },
  'VFIO attributes: has, and get': (c) => {
    const dev = vfioDevice(c);
    return [attr(c, dev, 'KVM_HAS_DEVICE_ATTR', 1, 1, 0), attr(c, dev, 'KVM_HAS_DEVICE_ATTR', 1, 3, 0), attr(c, dev, 'KVM_HAS_DEVICE_ATTR', 2, 1, 0), attr(c, dev, 'KVM_GET_DEVICE_ATTR', 1, 1, c.buf + 2048)];
  },
  '/dev/kvm attributes: KVM_X86_XCOMP_GUEST_SUPP and its neighbours': (c) =>
    [
      attr(c, c.k.system, 'KVM_GET_DEVICE_ATTR', 0, 0, c.buf + 2048),
      attr(c, c.k.system, 'KVM_GET_DEVICE_ATTR', 0, 1, c.buf + 2048),
      attr(c, c.k.system, 'KVM_GET_DEVICE_ATTR', 1, 0, c.buf + 2048),
      attr(c, c.k.system, 'KVM_HAS_DEVICE_ATTR', 0, 0, 0),
      attr(c, c.k.system, 'KVM_SET_DEVICE_ATTR', 0, 0, c.buf + 2048),
      attr(c, c.k.system, 'KVM_GET_DEVICE_ATTR', 0, 0, 0x10),
    ],
  'device attributes on a VM': (c) => attr(c, c.vm, 'KVM_HAS_DEVICE_ATTR', 0, 0, 0),
  'mmap of a VM and of /dev/kvm': (c) => [c.d.mmap(c.vm, 4096, 0), c.d.mmap(c.k.system, 4096, 0)],
  'close, ioctl and open of what is not there': (c) => [c.d.close(999), c.d.ioctl(999, 0xae00, 0), c.d.open('/nonexistent')],
  'KVM_SET_SREGS with CR0.PG without PE, LME paging without PAE, NW without CD, a reserved CR4 bit': (c) => [
    sregs(c, { cr0: 0x80000010n }),
    sregs(c, { cr0: 0x80000011n, efer: 0x500n, cr4: 0n }),
    sregs(c, { cr0: 0x20000010n }),
    sregs(c, { cr4: 0x80000000n }),
  ],
  'KVM_RUN with immediate_exit set': (c) => {
    const run = runPage(c);
    c.d.memory.write(run + c.k.offsetOf('kvm_run', 'immediate_exit'), new Uint8Array([1]));
    return [c.k.raw(c.vcpu, 'KVM_RUN'), c.d.memory.read(run + c.k.offsetOf('kvm_run', 'exit_reason'), 4)];
  },
  'KVM_RUN with immediate_exit still completes the pending IN': (c) => {
    const run = withCode(c, [0xe4, 0x60, 0xf4]); // in al, 0x60; hlt
    const first = c.k.raw(c.vcpu, 'KVM_RUN');
    c.d.memory.write(run + 4096, new Uint8Array([0x42]));
    c.d.memory.write(run + c.k.offsetOf('kvm_run', 'immediate_exit'), new Uint8Array([1]));
    const second = c.k.raw(c.vcpu, 'KVM_RUN');
    const r = regs(c);
    return [first, second, r.rax, r.rip];
  },
  'kvm_run.cr8 sets CR8 on the next KVM_RUN; reserved bits are refused': (c) => {
    const run = withCode(c, [0xf4, 0xf4]); // hlt; hlt
    c.d.memory.write(run + c.k.offsetOf('kvm_run', 'cr8'), new Uint8Array([5]));
    const first = c.k.raw(c.vcpu, 'KVM_RUN');
    const cr8 = c.k.struct(c.vcpu, 'KVM_GET_SREGS', {}).out.cr8;
    c.d.memory.write(run + c.k.offsetOf('kvm_run', 'cr8'), new Uint8Array([16]));
    return [first, cr8, c.k.raw(c.vcpu, 'KVM_RUN')];
  },
  'KVM_RUN asking for unknown synced registers': (c) => {
    const run = runPage(c);
    c.d.memory.write(run + c.k.offsetOf('kvm_run', 'kvm_valid_regs'), new Uint8Array([0, 1]));
    return c.k.raw(c.vcpu, 'KVM_RUN');
  },
  'KVM_RUN of 64-bit code with CS.L and CS.D both set': (c) => badEntry(c).result,
};

/** Long mode with CS.L and CS.D both set: state VMX refuses to enter. */
function badEntry(c: Ctx): { result: { ret: number; errno: number }; exit: Fields } {
  const run = runPage(c);
  const s = conventionSregs(c.k.struct(c.vcpu, 'KVM_GET_SREGS', {}).out as unknown as KvmSregs, 'long64');
  call(c, c.vcpu, 'KVM_SET_SREGS', { ...s, cs: { ...s.cs, db: 1 } } as unknown as Fields);
  const result = c.k.raw(c.vcpu, 'KVM_RUN');
  return { result, exit: c.k.decode({ kind: 'struct', name: 'kvm_run' }, c.d.memory.read(run, c.k.offsetOf('kvm_run', 'kvm_valid_regs'))) };
}

/** Only what both must agree on: results by sign and errno, byte arrays and numbers as they are. */
function normalise(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(normalise);
  if (v && typeof v === 'object' && 'errno' in v && 'ret' in v) return { failed: (v as { ret: number }).ret < 0, ret: (v as { ret: number }).ret < 0 ? -1 : undefined, errno: (v as { errno: number }).errno };
  return v;
}

describe(`the KVM front-end's errnos against /dev/kvm${noKvm ? ` (skipped: ${noKvm})` : ''}`, () => {
  for (const [name, scenario] of Object.entries(SCENARIOS)) {
    it.skipIf(noKvm !== undefined)(name, () => {
      const kvm = normalise(scenario(setup(new HostDriver())));
      const emulated = normalise(scenario(setup(new EmulatedKvm())));
      expect(emulated).toEqual(kvm);
    });
  }
});

describe('the KVM front-end alone', () => {
  it('gives EFAULT for an argument past the last user page', () => {
    const c = setup(new EmulatedKvm());
    expect(c.k.raw(c.vcpu, 'KVM_GET_FPU', 0x7ffffffff000).errno).toBe(EFAULT);
  });

  // This machine's /dev/kvm is kvm_pvm (no VMX): it emulates the bad state into a shutdown.
  // Hardware VMX fails the entry with basic reason 33 (invalid guest state) and bit 31 set.
  it('fails the entry into state VMX refuses, as KVM on VMX reports it', () => {
    const { result, exit } = badEntry(setup(new EmulatedKvm()));
    expect(result.ret).toBe(0);
    expect(exit.exit_reason).toBe(9);
    expect((exit.fail_entry as Fields).hardware_entry_failure_reason).toBe(0x80000021n);
  });

  it('round-trips the FPU state through KVM_SET_FPU and KVM_GET_FPU', () => {
    const c = setup(new EmulatedKvm());
    const fpu = c.k.struct(c.vcpu, 'KVM_GET_FPU', {}).out;
    expect(fpu.fcw).toBe(0x37f);
    const xmm = new Uint8Array(256).map((_, i) => i);
    c.k.struct(c.vcpu, 'KVM_SET_FPU', { ...fpu, xmm, mxcsr: 0x1fa0 });
    const back = c.k.struct(c.vcpu, 'KVM_GET_FPU', {}).out;
    expect(back.xmm).toEqual(xmm);
    expect(back.mxcsr).toBe(0x1fa0);
  });
});
