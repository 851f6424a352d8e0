// The real /dev/kvm through the kvmhost addon: the system calls, real memory KVM reads, and a guest
// that talks to the monitor through OUT.
import { constants } from 'node:os';
import { describe, expect, it } from 'vitest';
import { HostDriver, kvmUnavailable } from '../vmx/host/driver.js';
import { KvmClient } from '../vmx/monitor/kvm-client.js';

const noKvm = kvmUnavailable();

describe.skipIf(noKvm !== undefined)(`the /dev/kvm driver${noKvm ? ` (skipped: ${noKvm})` : ''}`, () => {
  it('opens /dev/kvm, reports API version 12 and the run-page size, creates a VM and a vCPU', () => {
    const d = new HostDriver();
    const kvm = d.open('/dev/kvm');
    expect(kvm).toBeGreaterThan(2);
    expect(d.ioctl(kvm, 0xae00, 0)).toEqual({ ret: 12, errno: 0 });
    expect(d.ioctl(kvm, 0xae04, 0).ret).toBeGreaterThanOrEqual(4096);
    const vm = d.ioctl(kvm, 0xae01, 0).ret;
    expect(vm).toBeGreaterThan(kvm);
    const vcpu = d.ioctl(vm, 0xae41, 0).ret;
    expect(vcpu).toBeGreaterThan(vm);
    for (const fd of [vcpu, vm, kvm]) expect(d.close(fd)).toBe(0);
  });

  it('gives back -errno for failed calls', () => {
    const d = new HostDriver();
    expect(d.open('/dev/kvm-not-here')).toBe(-constants.errno.ENOENT);
    expect(d.close(100000)).toBe(-constants.errno.EBADF);
    expect(d.ioctl(100000, 0xae00, 0)).toEqual({ ret: -1, errno: constants.errno.EBADF });
    expect(d.mmap(100000, 4096, 0)).toBe(-constants.errno.EBADF);
  });

  it('hands JavaScript real memory: what it writes, KVM reads, and the reverse', () => {
    const d = new HostDriver();
    const k = KvmClient.open(d);
    const vm = k.value(k.system, 'KVM_CREATE_VM');
    const ram = d.memory.alloc(0x10000, 4096);
    k.struct(vm, 'KVM_SET_USER_MEMORY_REGION', { slot: 0, flags: 0, guest_phys_addr: 0n, memory_size: 0x10000n, userspace_addr: BigInt(ram) });
    // mov al, 'K'; mov dx, 0x3f8; out dx, al; mov byte [0x3000], 0x99; mov al, 42; out 0xf4, al
    d.memory.write(ram + 0x1000, new Uint8Array([0xb0, 0x4b, 0xba, 0xf8, 0x03, 0xee, 0xc6, 0x06, 0x00, 0x30, 0x99, 0xb0, 0x2a, 0xe6, 0xf4]));
    const vcpu = k.value(vm, 'KVM_CREATE_VCPU', 0);
    const size = k.value(k.system, 'KVM_GET_VCPU_MMAP_SIZE');
    const run = d.mmap(vcpu, size, 0);
    expect(run).toBeGreaterThan(0);
    const sregs = k.struct(vcpu, 'KVM_GET_SREGS', {}).out;
    k.struct(vcpu, 'KVM_SET_SREGS', { ...sregs, cs: { ...(sregs.cs as object), base: 0n, selector: 0 } });
    k.struct(vcpu, 'KVM_SET_REGS', { rip: 0x1000n, rflags: 2n });
    const head = k.offsetOf('kvm_run', 'kvm_valid_regs');
    const outs: [number, number][] = [];
    for (let i = 0; i < 2; i++) {
      k.value(vcpu, 'KVM_RUN');
      const page = k.decode({ kind: 'struct', name: 'kvm_run' }, d.memory.read(run, head));
      expect(page.exit_reason).toBe(k.set.runPage!.exits.find((e) => e.name === 'KVM_EXIT_IO')!.value);
      const io = page.io as Record<string, number | bigint>;
      outs.push([io.port as number, d.memory.read(run + Number(io.data_offset), 1)[0]]);
    }
    expect(outs).toEqual([[0x3f8, 0x4b], [0xf4, 42]]);
    expect(d.memory.read(ram + 0x3000, 1)[0]).toBe(0x99);
    expect(d.munmap(run, size)).toBe(0);
  });
});
