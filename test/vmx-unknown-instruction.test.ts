/** An instruction the emulator does not implement ends the run naming it and its address. */
import { describe, expect, it } from 'vitest';
import { ExitReason } from '../vmx/index.js';
import { CodeRunner, describeWithNasm, runGuest } from './support/guests.js';

describeWithNasm('unknown instructions', () => {
  it('exits with INTERNAL_ERROR carrying the mnemonic text and the address', () => {
    const r = runGuest('unknown-insn', 'pm32');
    expect(r.last).toMatchObject({ reason: ExitReason.INTERNAL_ERROR, instruction: 'fld1', linear: 0x1005 });
    expect(r.last.reason === ExitReason.INTERNAL_ERROR && r.last.message).toContain('fld1');
    expect(r.last.reason === ExitReason.INTERNAL_ERROR && r.last.message).toContain('0x1005');
    // Nothing after it ran: EAX is still 1.
    expect(r.vcpu.getRegs().rax).toBe(1n);
    expect(r.vcpu.getRegs().rip).toBe(0x1005n);
  });
});

describe('unknown instructions in 64-bit code', () => {
  it('names an SSE instruction with its 64-bit RIP', () => {
    const cpu = new CodeRunner('long64');
    cpu.machine.memory.write(0x1000, new Uint8Array([0x90, 0x0f, 0x28, 0xc1, 0xf4])); // nop; movaps xmm0, xmm1
    const e = cpu.vcpu.run();
    expect(e).toMatchObject({ reason: ExitReason.INTERNAL_ERROR, instruction: 'movaps xmm0,xmm1', linear: 0x1001 });
    expect(e.reason === ExitReason.INTERNAL_ERROR && e.message).toMatch(/movaps xmm0,xmm1.*rip 0x1001/);
  });
});

describeWithNasm('forms the CPU does not model', () => {
  it('ends the run for a far jump through a call gate instead of raising a wrong #GP', () => {
    const cpu = new CodeRunner('pm32');
    expect(() =>
      cpu.runAsm(`
        lgdt [gdt_desc]
        jmp 0x18:0
      align 8
      gdt: dq 0
           dq 0x00cf9a000000ffff
           dq 0x00cf92000000ffff
           dw 0x2000, 0x0008, 0x8c00, 0x0000   ; 0x18: 32-bit call gate to 0x08:0x2000
      gdt_end:
      gdt_desc:
           dw gdt_end - gdt - 1
           dd gdt
      `),
    ).toThrow(/"reason":65536.*call gates/);
  });

  it('treats MOV to a test register as the #UD it is since the Pentium (a triple fault without an IDT)', () => {
    const cpu = new CodeRunner('pm32');
    cpu.machine.memory.write(0x1000, new Uint8Array([0x0f, 0x26, 0xf0])); // mov tr6, eax
    expect(cpu.vcpu.run()).toMatchObject({ reason: ExitReason.TRIPLE_FAULT });
  });

  it('ends the run when code is fetched from an MMIO address', () => {
    const cpu = new CodeRunner('pm32');
    cpu.machine.memory.write(0x1000, new Uint8Array([0xe9, ...new Uint8Array(new Uint32Array([0xb8000 - 0x1005]).buffer)])); // jmp 0xb8000
    const e = cpu.vcpu.run();
    expect(e).toMatchObject({ reason: ExitReason.INTERNAL_ERROR, linear: 0xb8000 });
    expect(e.reason === ExitReason.INTERNAL_ERROR && e.message).toMatch(/fetch from unbacked gpa 0xb8000/);
  });
});
