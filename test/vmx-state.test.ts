/** vCPU state in KVM's shapes: reset values and round trips through get/set. */
import { describe, expect, it } from 'vitest';
import { conventionSregs, ExitReason, Machine, Vcpu, type KvmRegs } from '../vmx/index.js';

describe('vCPU state', () => {
  it('starts in the architectural reset state', () => {
    const vcpu = new Vcpu(new Machine());
    const r = vcpu.getRegs();
    const s = vcpu.getSregs();
    expect([r.rip, r.rflags, r.rax, r.rdx]).toEqual([0xfff0n, 2n, 0n, 0x600n]);
    expect([s.cs.selector, s.cs.base, s.cs.limit, s.cs.type]).toEqual([0xf000, 0xffff0000n, 0xffff, 0xb]);
    expect([s.cr0, s.efer, s.apic_base]).toEqual([0x60000010n, 0n, 0xfee00900n]);
    expect(vcpu.getFpu()).toMatchObject({ fcw: 0x37f, mxcsr: 0x1f80 });
    expect(vcpu.getDebugRegs()).toEqual({ db: [0n, 0n, 0n, 0n], dr6: 0xffff0ff0n, dr7: 0x400n });
    expect(new Vcpu(vcpu.machine).getSregs().apic_base).toBe(0xfee00800n);
  });

  it('round-trips kvm_regs with full 64-bit values and a high-half RIP', () => {
    const vcpu = new Vcpu(new Machine());
    vcpu.setSregs(conventionSregs(vcpu.getSregs(), 'long64'));
    const regs: KvmRegs = {
      rax: 0xffffffffffffffffn, rbx: 0x8000000000000000n, rcx: 1n, rdx: 0x123456789abcdef0n, rsi: 2n, rdi: 3n, rsp: 0xffff800000001000n,
      rbp: 4n, r8: 5n, r9: 6n, r10: 7n, r11: 8n, r12: 9n, r13: 10n, r14: 11n, r15: 0xfedcba9876543210n,
      rip: 0xffffffff81000000n, rflags: 0x246n,
    };
    vcpu.setRegs(regs);
    expect(vcpu.getRegs()).toEqual(regs);
  });

  it('round-trips kvm_sregs, including canonical high-half table bases', () => {
    const vcpu = new Vcpu(new Machine());
    const s = conventionSregs(vcpu.getSregs(), 'long64');
    s.gdt = { base: 0xffffffff82000000n, limit: 0x7f };
    s.idt = { base: 0xffffffff82001000n, limit: 0xfff };
    s.fs = { ...s.fs, base: 0x00007f0000001000n };
    s.gs = { ...s.gs, base: 0xffff888000000000n };
    s.cr2 = 0xffff888000001234n;
    s.cr8 = 5n;
    s.interrupt_bitmap = [0n, 1n << 3n, 0n, 0n];
    vcpu.setSregs(s);
    expect(vcpu.getSregs()).toEqual(s);
  });

  it('keeps FPU bytes and debug registers as given', () => {
    const vcpu = new Vcpu(new Machine());
    const fpu = vcpu.getFpu();
    fpu.xmm[3][15] = 0xaa;
    fpu.fcw = 0x27f;
    vcpu.setFpu(fpu);
    expect(vcpu.getFpu()).toEqual(fpu);
    vcpu.setDebugRegs({ db: [1n, 2n, 3n, 4n], dr6: 0xffff0ff1n, dr7: 0x401n });
    expect(vcpu.getDebugRegs()).toEqual({ db: [1n, 2n, 3n, 4n], dr6: 0xffff0ff1n, dr7: 0x401n });
  });

  it('runs from the reset vector once memory backs it', () => {
    const machine = new Machine();
    const vcpu = new Vcpu(machine);
    const top = new Uint8Array(0x10000);
    top[0xfff0] = 0xf4;
    machine.setSlot({ slot: 0, gpa: 0xffff0000, size: 0x10000, backing: top });
    expect(vcpu.run().reason).toBe(ExitReason.HLT);
    expect(vcpu.getRegs().rip).toBe(0xfff1n);
  });
});
