/** Interrupt injection, HLT exits, the instruction budget and kicks. */
import { describe, expect, it } from 'vitest';
import { ExitReason } from '../vmx/index.js';
import { bootGuest, CodeRunner, describeWithNasm } from './support/guests.js';

describeWithNasm('external interrupts', () => {
  it('delivers a queued vector when IF=1, waking the guest out of each HLT', () => {
    const { vcpu } = bootGuest('interrupts', 'pm32');
    let halts = 0;
    for (;;) {
      const e = vcpu.run({ maxInstructions: 10_000 });
      if (e.reason === ExitReason.HLT) {
        halts++;
        expect(vcpu.readyForInterruptInjection).toBe(true);
        vcpu.queueInterrupt(0x20);
        expect(vcpu.getSregs().interrupt_bitmap[0]).toBe(1n << 32n);
        continue;
      }
      expect(e).toMatchObject({ reason: ExitReason.IO_INSTRUCTION, port: 0xf4, data: new Uint8Array([3]) });
      break;
    }
    expect(halts).toBe(3);
  });
});

describe('interrupt gating', () => {
  it('holds a queued interrupt while IF=0 and through the STI shadow', () => {
    const cpu = new CodeRunner('real16');
    // IVT[0x20] -> 0x2000 (inc bx; iret). Code: cli; nop; sti; inc cx; inc cx; hlt
    cpu.machine.memory.write(0x80, new Uint8Array([0x00, 0x20, 0x00, 0x00]));
    cpu.machine.memory.write(0x2000, new Uint8Array([0x43, 0xcf]));
    cpu.machine.memory.write(0x1000, new Uint8Array([0xfa, 0x90, 0xfb, 0x41, 0x41, 0xf4]));
    cpu.vcpu.queueInterrupt(0x20);
    expect(() => cpu.vcpu.queueInterrupt(0x21)).toThrow(/still queued/);
    // Run up to and including STI: interrupts are still held.
    expect(cpu.vcpu.run({ maxInstructions: 3 }).reason).toBe(ExitReason.PREEMPTION_TIMER);
    expect(cpu.vcpu.readyForInterruptInjection).toBe(false);
    // The instruction after STI runs before the interrupt is taken.
    expect(cpu.vcpu.run({ maxInstructions: 1 }).reason).toBe(ExitReason.PREEMPTION_TIMER);
    let r = cpu.vcpu.getRegs();
    expect([r.rcx, r.rbx]).toEqual([1n, 0n]);
    expect(cpu.vcpu.run().reason).toBe(ExitReason.HLT);
    r = cpu.vcpu.getRegs();
    expect([r.rcx, r.rbx]).toEqual([2n, 1n]);
  });

  it('stops at the instruction budget and on requestExit, resuming where it stopped', () => {
    const cpu = new CodeRunner('long64');
    cpu.machine.memory.write(0x1000, new Uint8Array([0x48, 0xff, 0xc0, 0xeb, 0xfb])); // inc rax; jmp $-3
    expect(cpu.vcpu.run({ maxInstructions: 100 }).reason).toBe(ExitReason.PREEMPTION_TIMER);
    expect(cpu.vcpu.getRegs().rax).toBe(50n);
    cpu.vcpu.requestExit();
    expect(cpu.vcpu.run({ maxInstructions: 100 }).reason).toBe(ExitReason.EXTERNAL_INTERRUPT);
    expect(cpu.vcpu.run({ maxInstructions: 10 }).reason).toBe(ExitReason.PREEMPTION_TIMER);
    expect(cpu.vcpu.getRegs().rax).toBe(55n);
    expect(cpu.vcpu.instructionsRetired).toBe(110);
  });
});

describe('interrupt window', () => {
  it('exits with INTERRUPT_WINDOW once IF=1 and the STI shadow has passed', () => {
    const cpu = new CodeRunner('real16');
    cpu.machine.memory.write(0x1000, new Uint8Array([0x90, 0xfb, 0x41, 0x41, 0xf4])); // nop; sti; inc cx; inc cx; hlt
    expect(cpu.vcpu.run({ requestInterruptWindow: true }).reason).toBe(ExitReason.INTERRUPT_WINDOW);
    // The window opened after the instruction in the STI shadow.
    expect(cpu.vcpu.getRegs().rcx).toBe(1n);
    expect(cpu.vcpu.readyForInterruptInjection).toBe(true);
    expect(cpu.vcpu.run().reason).toBe(ExitReason.HLT);
  });
});
