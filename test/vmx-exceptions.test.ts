/** Exceptions and software interrupts through the IVT and IDT, #DF escalation, triple fault. */
import { describe, expect, it } from 'vitest';
import { ExitReason } from '../vmx/index.js';
import { CodeRunner, describeWithNasm, runGuest } from './support/guests.js';

describeWithNasm('exception delivery', () => {
  it('delivers #DE, #UD, #GP, #BP and INT 0x80 through a 32-bit IDT', () => {
    const r = runGuest('exceptions', 'pm32');
    expect(r.output).toBe('DUGBS\n');
    expect(r.exitCode).toBe(0);
    expect(r.vcpu.getRegs().rbp).toBe(1n);
  });

  it('pushes the address of the faulting instruction for a fault', () => {
    const r = runGuest('exceptions', 'pm32');
    const deEip = new DataView(r.ram.buffer).getUint32(findDeEip(r.ram), true);
    // The saved EIP is the DIV ECX (f7 f1) itself, followed by the UD2 (0f 0b).
    expect([...r.ram.subarray(deEip, deEip + 4)]).toEqual([0xf7, 0xf1, 0x0f, 0x0b]);
  });

  it('delivers real-mode interrupts and #DE through the IVT', () => {
    const r = runGuest('real-interrupts', 'real16');
    expect(r.output).toBe('IE\n');
    expect(r.exitCode).toBe(0);
  });

  it('ends the run with TRIPLE_FAULT when a double fault cannot be delivered', () => {
    const r = runGuest('triple-fault', 'pm32');
    expect(r.last.reason).toBe(ExitReason.TRIPLE_FAULT);
    expect(r.exitCode).toBeUndefined();
  });
});

/** The guest's de_eip variable: the aligned dword holding the address of a DIV ECX in the image. */
function findDeEip(ram: Uint8Array): number {
  const view = new DataView(ram.buffer);
  for (let a = 0x1000; a < 0x1400; a += 4) {
    const v = view.getUint32(a, true);
    if (v > 0x1000 && v < 0x1100 && ram[v] === 0xf7 && ram[v + 1] === 0xf1) return a;
  }
  throw new Error('de_eip not found');
}

describe('exceptions in raw code', () => {
  it('raises #UD for an invalid encoding, which without an IDT becomes a triple fault', () => {
    const cpu = new CodeRunner('long64');
    expect(() => cpu.run([0x0f, 0xff])).toThrow(/"reason":2/);
  });

  it('raises #GP for a non-canonical address', () => {
    const cpu = new CodeRunner('long64');
    // mov rax, 0x0000800000000000; mov rbx, [rax]
    expect(() => cpu.run([0x48, 0xb8, 0, 0, 0, 0, 0, 0x80, 0, 0, 0x48, 0x8b, 0x18])).toThrow(/"reason":2/);
  });
});

describeWithNasm('64-bit IDT', () => {
  it('delivers through 16-byte gates, aligning the stack and switching to an IST stack', () => {
    const r = runGuest('long64-idt', 'long64');
    expect(r.output).toBe('DSP\n');
    expect(r.exitCode).toBe(0);
    const regs = r.vcpu.getRegs();
    // RSP 0x7ff8 aligned down to 0x7ff0, then SS, RSP, RFLAGS, CS, RIP pushed.
    expect(regs.r12).toBe(0x7ff0n - 5n * 8n);
    // IST1 at 0x6000: the frame plus the error code.
    expect(regs.r13).toBe(0x6000n - 6n * 8n);
  });
});
