/** The physical decode cache sees guest stores into code and monitor writes between runs. */
import { describe, expect, it } from 'vitest';
import { ExitReason } from '../vmx/index.js';
import { CodeRunner, describeWithNasm, runGuest } from './support/guests.js';

describeWithNasm('self-modifying code', () => {
  it('re-decodes an instruction the guest patched after running it', () => {
    const r = runGuest('self-modify', 'pm32');
    expect(r.exitCode).toBe(0);
    const regs = r.vcpu.getRegs();
    expect(regs.rbx).toBe(0x11111111n);
    expect(regs.rax & 0xffffff00n).toBe(0x22222200n);
  });
});

describe('monitor writes', () => {
  it('drops cached code the monitor overwrites through GuestMemory.write', () => {
    const cpu = new CodeRunner('long64');
    expect(cpu.run([0xb8, 1, 0, 0, 0]).rax).toBe(1n); // mov eax, 1
    expect(cpu.run([0xb8, 2, 0, 0, 0]).rax).toBe(2n);
  });

  it('needs notifyWrite for direct stores into a slot backing', () => {
    const cpu = new CodeRunner('long64');
    expect(cpu.run([0xb8, 1, 0, 0, 0]).rax).toBe(1n);
    const slot = cpu.machine.memory.find(0x1000);
    slot?.backing.set([3], 0x1001);
    cpu.machine.memory.notifyWrite(0x1001, 1);
    const r = cpu.vcpu.getRegs();
    r.rip = 0x1000n;
    cpu.vcpu.setRegs(r);
    expect(cpu.vcpu.run().reason).toBe(ExitReason.HLT);
    expect(cpu.vcpu.getRegs().rax).toBe(3n);
  });
});
