// The HAXM front-end of the emulated core (Linux numbering): version negotiation, capabilities,
// VMs and vCPUs opened by path, RAM blocks and mappings (ROM, INVALID, PROTECT_RAM), the tunnel,
// registers, MSRs, FPU, interrupts, and the errnos the Linux driver gives for bad input. Every
// user-memory access is logged: the exact-access checks read that log.
import { constants } from 'node:os';
import { describe, expect, it } from 'vitest';
import type { Decoded } from '../schemas/codec.js';
import { EmulatedHaxm } from '../vmx/haxm/frontend.js';
import { HaxmClient, type Fields } from '../vmx/monitor/haxm-client.js';

const { EBADF, EFAULT, EINVAL, ENODEV, ENOENT, ENOSYS } = constants.errno;
const PAGE = 4096;
const RAM = 0x10000;

/** The call's errno (0 when it succeeded), the argument encoded as the schema's type. */
function errno(hax: HaxmClient, fd: number, name: string, input: Decoded = {}): number {
  const schema = hax.schema(name);
  if (schema.arg.kind !== 'pointer') return hax.driver.ioctl(fd, schema.numbers.lp64!, 0).errno;
  const bytes = hax.encode(schema.arg.type, input);
  const addr = hax.driver.memory.alloc(bytes.length, 8);
  hax.driver.memory.write(addr, bytes);
  const r = hax.driver.ioctl(fd, schema.numbers.lp64!, addr);
  hax.driver.memory.free(addr);
  return r.errno;
}

interface Booted {
  driver: EmulatedHaxm;
  hax: HaxmClient;
  vm: number;
  vcpu: number;
  ram: number;
  tunnel: { va: number; io: number };
}

/** A VM with 64 KiB of RAM at gpa 0 (`code` at 0x1000), vCPU 0 in real mode at 0x1000, its tunnel set up. */
function boot(code: number[] = [0xf4]): Booted {
  const driver = new EmulatedHaxm();
  const hax = HaxmClient.open(driver);
  const id = hax.struct(hax.system, 'HAX_IOCTL_CREATE_VM', 0).value;
  const vm = hax.openObject('vm', id);
  const ram = driver.memory.alloc(RAM, PAGE);
  driver.memory.write(ram + 0x1000, new Uint8Array(code));
  hax.struct(vm, 'HAX_VM_IOCTL_ADD_RAMBLOCK', { start_va: BigInt(ram), size: BigInt(RAM), reserved: 0n });
  hax.struct(vm, 'HAX_VM_IOCTL_SET_RAM2', { pa_start: 0n, size: BigInt(RAM), va: BigInt(ram), flags: 0 });
  hax.struct(vm, 'HAX_VM_IOCTL_VCPU_CREATE', 0);
  const vcpu = hax.openObject('vcpu', id, 0);
  const t = hax.struct(vcpu, 'HAX_VCPU_IOCTL_SETUP_TUNNEL', {}).out;
  const state = hax.struct(vcpu, 'HAX_VCPU_GET_REGS', {}).out;
  hax.struct(vcpu, 'HAX_VCPU_SET_REGS', { ...state, _cs: { ...(state._cs as Fields), selector: 0, base: 0n }, _rip: 0x1000n, _rflags: 2n });
  return { driver, hax, vm, vcpu, ram, tunnel: { va: Number(t.va), io: Number(t.io_va) } };
}

/** RUN, and the hax_tunnel after it. */
function run(b: Booted): Fields {
  const r = b.hax.raw(b.vcpu, 'HAX_VCPU_IOCTL_RUN');
  expect(r).toEqual({ ret: 0, errno: 0 });
  const tunnel = b.hax.decode({ kind: 'struct', name: 'hax_tunnel' }, b.driver.memory.read(b.tunnel.va, b.hax.sizeOf('hax_tunnel')));
  return { ...tunnel, status: b.hax.set.runPage!.exits.find((e) => e.value === tunnel._exit_status)?.name };
}

const fastmmio = (b: Booted): Fields => b.hax.decode({ kind: 'struct', name: 'hax_fastmmio' }, b.driver.memory.read(b.tunnel.io, b.hax.sizeOf('hax_fastmmio')));

describe('the HAXM front-end: /dev/HAX', () => {
  it('negotiates the version: API 4, compatible with 1, written and nothing read', () => {
    const driver = new EmulatedHaxm();
    const hax = HaxmClient.open(driver);
    const out = hax.struct(hax.system, 'HAX_IOCTL_VERSION', {}).out;
    expect(out).toEqual({ compat_version: 1, cur_version: 4 });
    expect(driver.lastAccesses()).toEqual([{ addr: expect.any(Number), length: 8, write: true }]);
  });

  it('reports a working driver and the features the emulator offers', () => {
    const hax = HaxmClient.open(new EmulatedHaxm());
    const cap = hax.struct(hax.system, 'HAX_IOCTL_CAPABILITY', {}).out;
    expect(cap.wstatus).toBe(hax.constant('HAX_CAP_STATUS_WORKING'));
    expect(cap.win_refcount).toBe(0);
    const offered = ['EPT', 'FASTMMIO', 'UG', '64BIT_RAMBLOCK', '64BIT_SETRAM', 'TUNNEL_PAGE', 'RAM_PROTECTION'];
    const absent = ['DEBUG', 'IMPLICIT_RAMBLOCK', 'CPUID'];
    expect(offered.filter((f) => hax.has(`HAX_CAP_${f}`))).toEqual(offered);
    expect(absent.filter((f) => hax.has(`HAX_CAP_${f}`))).toEqual([]);
    expect(cap.mem_quota).toBe(0n);
  });

  it('creates VMs with the lowest free ids, opened by path only once they exist', () => {
    const driver = new EmulatedHaxm();
    const hax = HaxmClient.open(driver);
    expect(driver.open('/dev/hax_vm/vm00')).toBe(-ENOENT);
    expect(hax.struct(hax.system, 'HAX_IOCTL_CREATE_VM', 0).value).toBe(0);
    expect(hax.struct(hax.system, 'HAX_IOCTL_CREATE_VM', 0).value).toBe(1);
    expect(hax.path('vm', 1)).toBe('/dev/hax_vm/vm01');
    expect(driver.open('/dev/hax_vm/vm01')).toBeGreaterThan(2);
    expect(driver.open('/dev/hax_vm/vm02')).toBe(-ENOENT);
    expect(driver.open('/dev/kvm')).toBe(-ENOENT);
  });

  it('sets a memory limit only before any VM exists, and reports it as the quota', () => {
    const hax = HaxmClient.open(new EmulatedHaxm());
    expect(errno(hax, hax.system, 'HAX_IOCTL_SET_MEMLIMIT', { enable_memlimit: 1, memory_limit: 512n })).toBe(0);
    const cap = hax.struct(hax.system, 'HAX_IOCTL_CAPABILITY', {}).out;
    expect({ wstatus: cap.wstatus, mem_quota: cap.mem_quota }).toEqual({ wstatus: hax.constant('HAX_CAP_STATUS_WORKING') | hax.constant('HAX_CAP_MEMQUOTA'), mem_quota: 512n << 20n });
    hax.struct(hax.system, 'HAX_IOCTL_CREATE_VM', 0);
    expect(errno(hax, hax.system, 'HAX_IOCTL_SET_MEMLIMIT', { enable_memlimit: 0 })).toBe(EINVAL);
  });

  it('answers requests it does not handle as the Linux driver does: 0 on /dev/HAX and VMs, ENOSYS on vCPUs', () => {
    const { driver, hax, vm, vcpu } = boot();
    expect(driver.ioctl(hax.system, 0xc0080099, 0)).toEqual({ ret: 0, errno: 0 });
    // DESTROY_VM and VCPU_DESTROY have no handler: they "succeed" and do nothing.
    expect(errno(hax, hax.system, 'HAX_IOCTL_DESTROY_VM', 0)).toBe(0);
    expect(errno(hax, vm, 'HAX_VM_IOCTL_VCPU_DESTROY', 0)).toBe(0);
    expect(driver.open(hax.path('vm', 0))).toBeGreaterThan(2);
    expect(driver.ioctl(vcpu, 0xc0080099, 0).errno).toBe(ENOSYS);
    expect(errno(hax, vcpu, 'HAX_IOCTL_VCPU_DEBUG', {})).toBe(ENOSYS);
  });

  it('gives EFAULT for unmapped arguments and EBADF for closed fds', () => {
    const driver = new EmulatedHaxm();
    const hax = HaxmClient.open(driver);
    expect(driver.ioctl(hax.system, hax.schema('HAX_IOCTL_VERSION').numbers.lp64!, 0x1000).errno).toBe(EFAULT);
    expect(driver.close(hax.system)).toBe(0);
    expect(driver.ioctl(hax.system, hax.schema('HAX_IOCTL_VERSION').numbers.lp64!, 0).errno).toBe(EBADF);
  });
});

describe('the HAXM front-end: VMs', () => {
  it('refuses vCPU ids of 16 and more and ids taken, and opens a vCPU by path once created', () => {
    const { driver, hax, vm } = boot();
    expect(errno(hax, vm, 'HAX_VM_IOCTL_VCPU_CREATE', 16)).toBe(EINVAL);
    expect(errno(hax, vm, 'HAX_VM_IOCTL_VCPU_CREATE', 0)).toBe(EINVAL);
    expect(driver.open(hax.path('vcpu', 0, 1))).toBe(-ENOENT);
    expect(errno(hax, vm, 'HAX_VM_IOCTL_VCPU_CREATE', 1)).toBe(0);
    expect(hax.path('vcpu', 0, 1)).toBe('/dev/hax_vm00/vcpu01');
    expect(driver.open(hax.path('vcpu', 0, 1))).toBeGreaterThan(2);
    expect(errno(hax, vm, 'HAX_VM_IOCTL_NOTIFY_QEMU_VERSION', { cur_version: 4, least_version: 4 })).toBe(0);
  });

  it('checks RAM blocks, mappings and protections as the driver does (EINVAL)', () => {
    const { hax, vm, ram, driver } = boot();
    const more = driver.memory.alloc(RAM, PAGE);
    const invalid = hax.constant('HAX_RAM_INFO_INVALID');
    // Blocks: no zero address or size, no overlap, reserved 0; alignment is not checked.
    expect(errno(hax, vm, 'HAX_VM_IOCTL_ALLOC_RAM', { size: 0, va: BigInt(more) })).toBe(EINVAL);
    expect(errno(hax, vm, 'HAX_VM_IOCTL_ALLOC_RAM', { size: PAGE, va: 0n })).toBe(EINVAL);
    expect(errno(hax, vm, 'HAX_VM_IOCTL_ALLOC_RAM', { size: PAGE, va: BigInt(ram + 8) })).toBe(EINVAL);
    expect(errno(hax, vm, 'HAX_VM_IOCTL_ADD_RAMBLOCK', { start_va: BigInt(more), size: BigInt(RAM), reserved: 1n })).toBe(EINVAL);
    expect(errno(hax, vm, 'HAX_VM_IOCTL_ALLOC_RAM', { size: RAM, va: BigInt(more) })).toBe(0);
    // Mappings: va in a block (0 only to unmap, with INVALID alone), at least a page, reserved 0.
    expect(errno(hax, vm, 'HAX_VM_IOCTL_SET_RAM', { pa_start: 0x100000n, size: PAGE, va: BigInt(more + RAM) })).toBe(EINVAL);
    expect(errno(hax, vm, 'HAX_VM_IOCTL_SET_RAM', { pa_start: 0x100000n, size: PAGE, va: 0n })).toBe(EINVAL);
    expect(errno(hax, vm, 'HAX_VM_IOCTL_SET_RAM', { pa_start: 0x100000n, size: PAGE, va: BigInt(more), flags: invalid })).toBe(EINVAL);
    expect(errno(hax, vm, 'HAX_VM_IOCTL_SET_RAM', { pa_start: 0x100000n, size: PAGE, va: 0n, flags: invalid | 1 })).toBe(EINVAL);
    expect(errno(hax, vm, 'HAX_VM_IOCTL_SET_RAM', { pa_start: 0x100000n, size: 0, va: BigInt(more) })).toBe(EINVAL);
    expect(errno(hax, vm, 'HAX_VM_IOCTL_SET_RAM', { pa_start: 0x100000n, size: 0x800, va: BigInt(more) })).toBe(EINVAL);
    expect(errno(hax, vm, 'HAX_VM_IOCTL_SET_RAM2', { pa_start: 0x100000n, size: BigInt(PAGE), va: BigInt(more), reserved1: 1 })).toBe(EINVAL);
    expect(errno(hax, vm, 'HAX_VM_IOCTL_SET_RAM', { pa_start: 0x100000n, size: RAM, va: BigInt(more) })).toBe(0);
    // Protection: none or RWX only (bits outside HAX_RAM_PERM_MASK ignored), reserved 0, below the last page mapped.
    expect(errno(hax, vm, 'HAX_VM_IOCTL_PROTECT_RAM', { pa_start: 0n, size: BigInt(PAGE), flags: hax.constant('HAX_RAM_PERM_RWX') & ~2 })).toBe(EINVAL);
    expect(errno(hax, vm, 'HAX_VM_IOCTL_PROTECT_RAM', { pa_start: 0n, size: BigInt(PAGE), flags: 0, reserved: 1 })).toBe(EINVAL);
    expect(errno(hax, vm, 'HAX_VM_IOCTL_PROTECT_RAM', { pa_start: 0n, size: 0n, flags: 0 })).toBe(EINVAL);
    expect(errno(hax, vm, 'HAX_VM_IOCTL_PROTECT_RAM', { pa_start: BigInt(0x100000 + RAM), size: BigInt(PAGE), flags: 0 })).toBe(EINVAL);
    expect(errno(hax, vm, 'HAX_VM_IOCTL_PROTECT_RAM', { pa_start: 0x10n, size: BigInt(PAGE), flags: 8 })).toBe(0);
  });

  it('turns writes to ROM and accesses to unmapped (INVALID) pages into fast MMIO exits', () => {
    // mov byte [0x2000], 0x55; mov al, [0x3000]; out 0xf4, al; hlt
    const b = boot([0xc6, 0x06, 0x00, 0x20, 0x55, 0xa0, 0x00, 0x30, 0xe6, 0xf4, 0xf4]);
    const { hax, vm, ram, driver } = b;
    hax.struct(vm, 'HAX_VM_IOCTL_SET_RAM', { pa_start: 0x2000n, size: PAGE, flags: hax.constant('HAX_RAM_INFO_ROM'), va: BigInt(ram + 0x2000) });
    hax.struct(vm, 'HAX_VM_IOCTL_SET_RAM', { pa_start: 0x3000n, size: PAGE, flags: hax.constant('HAX_RAM_INFO_INVALID'), va: 0n });
    expect(run(b).status).toBe('HAX_EXIT_FAST_MMIO');
    expect(fastmmio(b)).toMatchObject({ gpa: 0x2000n, value: 0x55n, size: 1, direction: 1 });
    expect(driver.memory.read(ram + 0x2000, 1)[0]).toBe(0);
    expect(run(b).status).toBe('HAX_EXIT_FAST_MMIO');
    expect(fastmmio(b)).toMatchObject({ gpa: 0x3000n, size: 1, direction: 0 });
    driver.memory.write(b.tunnel.io + hax.offsetOf('hax_fastmmio', 'value'), new Uint8Array([0x42]));
    const io = run(b);
    expect(io.status).toBe('HAX_EXIT_IO');
    expect(io.io).toMatchObject({ _direction: hax.constant('HAX_IO_OUT'), _port: 0xf4, _size: 1, _count: 1 });
    expect(driver.memory.read(b.tunnel.io, 1)[0]).toBe(0x42);
    expect(run(b).status).toBe('HAX_EXIT_HLT');
  });

  it('reports an access to a page PROTECT_RAM took away as PAGEFAULT with the gpa and the access', () => {
    const b = boot([0xc6, 0x06, 0x00, 0x20, 0x55, 0xf4]);
    const { hax, vm } = b;
    const none = hax.constant('HAX_RAM_PERM_NONE');
    hax.struct(vm, 'HAX_VM_IOCTL_PROTECT_RAM', { pa_start: 0x1000n, size: BigInt(2 * PAGE), flags: none });
    const fetch = run(b);
    expect(fetch.status).toBe('HAX_EXIT_PAGEFAULT');
    expect(fetch.pagefault).toMatchObject({ gpa: 0x1000n, flags: hax.constant('HAX_PAGEFAULT_ACC_X') });
    hax.struct(vm, 'HAX_VM_IOCTL_PROTECT_RAM', { pa_start: 0x1000n, size: BigInt(PAGE), flags: hax.constant('HAX_RAM_PERM_RWX') });
    const write = run(b);
    expect(write.pagefault).toMatchObject({ gpa: 0x2000n, flags: hax.constant('HAX_PAGEFAULT_ACC_W') });
    hax.struct(vm, 'HAX_VM_IOCTL_PROTECT_RAM', { pa_start: 0x2000n, size: BigInt(PAGE), flags: hax.constant('HAX_RAM_PERM_RWX') });
    expect(run(b).status).toBe('HAX_EXIT_HLT');
    expect(b.driver.memory.read(b.ram + 0x2000, 1)[0]).toBe(0x55);
  });
});

describe('the HAXM front-end: vCPUs', () => {
  it('maps the tunnel and the I/O buffer with the vCPU, reports them to SETUP_TUNNEL every time, has no mmap', () => {
    const driver = new EmulatedHaxm();
    const hax = HaxmClient.open(driver);
    hax.struct(hax.system, 'HAX_IOCTL_CREATE_VM', 0);
    const vm = hax.openObject('vm', 0);
    hax.struct(vm, 'HAX_VM_IOCTL_VCPU_CREATE', 0);
    const vcpu = hax.openObject('vcpu', 0, 0);
    // The reset state runs at f000:fff0, where nothing is mapped: the fetch exits as fast MMIO.
    expect(hax.raw(vcpu, 'HAX_VCPU_IOCTL_RUN')).toEqual({ ret: 0, errno: 0 });
    const first = hax.struct(vcpu, 'HAX_VCPU_IOCTL_SETUP_TUNNEL', {}).out;
    expect(driver.memory.read(Number(first.va) + hax.offsetOf('hax_tunnel', '_exit_status'), 1)[0]).not.toBe(0);
    expect(first.size).toBe(PAGE);
    expect(driver.memory.mapped(Number(first.va), PAGE) && driver.memory.mapped(Number(first.io_va), PAGE)).toBe(true);
    expect(hax.struct(vcpu, 'HAX_VCPU_IOCTL_SETUP_TUNNEL', {}).out).toEqual(first);
    expect(driver.mmap(vcpu, PAGE, 0)).toBe(-ENODEV);
  });

  it('gives back the registers, MSRs and FPU state it was given', () => {
    const { hax, vcpu } = boot();
    const state = hax.struct(vcpu, 'HAX_VCPU_GET_REGS', {}).out;
    const set = { ...state, _rax: 0x1122334455667788n, _r15: 7n, _cr2: 0x1000n, _dr0: 0x40n, _sysenter_esp: 0x8000n, _ds: { selector: 0x10, limit: 0xffff, base: 0x100n, ar: 0x93 } };
    hax.struct(vcpu, 'HAX_VCPU_SET_REGS', set);
    const got = hax.struct(vcpu, 'HAX_VCPU_GET_REGS', {}).out;
    expect({ rax: got._rax, r15: got._r15, cr2: got._cr2, dr0: got._dr0, sysenter_esp: got._sysenter_esp, ds: got._ds }).toEqual({
      rax: 0x1122334455667788n, r15: 7n, cr2: 0x1000n, dr0: 0x40n, sysenter_esp: 0x8000n, ds: { selector: 0x10, _dummy: 0, limit: 0xffff, base: 0x100n, ar: 0x93, ipad: 0 },
    });
    const fpu = hax.struct(vcpu, 'HAX_VCPU_IOCTL_GET_FPU', {}).out;
    expect({ fcw: fpu.fcw, mxcsr: fpu.mxcsr }).toEqual({ fcw: 0x37f, mxcsr: 0x1f80 });
    const xmm15 = new Uint8Array(128).fill(0xab);
    hax.struct(vcpu, 'HAX_VCPU_IOCTL_SET_FPU', { ...fpu, fcw: 0x27f, mmx_2: xmm15 });
    const fpu2 = hax.struct(vcpu, 'HAX_VCPU_IOCTL_GET_FPU', {}).out;
    expect({ fcw: fpu2.fcw, mmx_2: fpu2.mmx_2 }).toEqual({ fcw: 0x27f, mmx_2: xmm15 });
    const msrs = hax.struct(vcpu, 'HAX_VCPU_IOCTL_SET_MSRS', { nr_msr: 1, entries: [{ entry: 0x174n, value: 0x8n }] });
    expect(msrs.ret).toBe(0);
    const got2 = hax.struct(vcpu, 'HAX_VCPU_IOCTL_GET_MSRS', { nr_msr: 3, entries: [{ entry: 0x174n }, { entry: 0x12345n }, { entry: 0x175n }] }).out;
    expect(got2.done).toBe(1);
    expect((got2.entries as Fields[])[0].value).toBe(0x8n);
  });

  it('refuses nr_msr of HAX_MAX_MSR_ARRAY or more with EFAULT, as the Linux driver does', () => {
    const { hax, vcpu } = boot();
    expect(errno(hax, vcpu, 'HAX_VCPU_IOCTL_GET_MSRS', { nr_msr: 32 })).toBe(EFAULT);
    expect(errno(hax, vcpu, 'HAX_VCPU_IOCTL_SET_MSRS', { nr_msr: 31 })).toBe(0);
  });

  it('reads one byte of INTERRUPT\'s vector and delivers it through the IVT once IF is set', () => {
    // sti; nop; hlt at 0x1000; the handler at 0x1100: out 0xf4, al (AL=0x2a) ; hlt
    const b = boot([0xfb, 0x90, 0xf4]);
    const { hax, vcpu, driver, ram } = b;
    driver.memory.write(ram + 0x1100, new Uint8Array([0xb0, 0x2a, 0xe6, 0xf4, 0xf4]));
    driver.memory.write(ram + 0x20 * 4, new Uint8Array([0x00, 0x11, 0x00, 0x00]));
    const state = hax.struct(vcpu, 'HAX_VCPU_GET_REGS', {}).out;
    hax.struct(vcpu, 'HAX_VCPU_SET_REGS', { ...state, _rsp: 0x8000n });
    expect(errno(hax, vcpu, 'HAX_VCPU_IOCTL_INTERRUPT', 0x20)).toBe(0);
    expect(driver.lastAccesses()).toEqual([{ addr: expect.any(Number), length: 1, write: false }]);
    const exit = run(b);
    expect(exit.status).toBe('HAX_EXIT_IO');
    expect(driver.memory.read(b.tunnel.io, 1)[0]).toBe(0x2a);
  });

  it('stops the vCPU at a triple fault (STATECHANGE, again on the next RUN) until SET_REGS', () => {
    // lidt [0x1010] (an empty IDT); int3
    const b = boot([0x0f, 0x01, 0x1e, 0x10, 0x10, 0xcc, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    const first = run(b);
    expect({ status: first.status, reason: first._exit_reason }).toEqual({ status: 'HAX_EXIT_STATECHANGE', reason: 2 });
    expect(run(b).status).toBe('HAX_EXIT_STATECHANGE');
    const state = b.hax.struct(b.vcpu, 'HAX_VCPU_GET_REGS', {}).out;
    b.driver.memory.write(b.ram + 0x1000, new Uint8Array([0xf4]));
    b.hax.struct(b.vcpu, 'HAX_VCPU_SET_REGS', { ...state, _rip: 0x1000n });
    expect(run(b).status).toBe('HAX_EXIT_HLT');
  });
});
