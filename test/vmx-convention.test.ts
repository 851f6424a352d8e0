/** The test-guest convention (vmx/boot.ts): memory layout, registers per mode, the monitor loop. */
import { expect, it } from 'vitest';
import { Convention, ExitReason, Machine, setupConventionGuest, Vcpu } from '../vmx/index.js';
import { describeWithNasm, runGuest } from './support/guests.js';

it('lays out 2 MiB of RAM around the MMIO hole and enters at 0x1000 with the stack at 0x8000', () => {
  const machine = new Machine();
  const vcpu = new Vcpu(machine);
  const { ram } = setupConventionGuest(machine, vcpu, new Uint8Array([0x90, 0xf4]), 'long64');
  expect(ram.length).toBe(2 * 1024 * 1024);
  expect(machine.memory.listSlots().map((s) => [s.gpa, s.end])).toEqual([
    [0, 0xb8000],
    [0xc0000, 0x200000],
  ]);
  expect(machine.memory.find(0xb8000)).toBeUndefined();
  expect([...ram.subarray(0x1000, 0x1002)]).toEqual([0x90, 0xf4]);
  const regs = vcpu.getRegs();
  expect(regs.rip).toBe(0x1000n);
  expect(regs.rsp).toBe(0x8000n);
  const s = vcpu.getSregs();
  expect(s.cr3).toBe(BigInt(Convention.PAGE_TABLES));
  expect(s.efer & 0x500n).toBe(0x500n);
  expect(s.cs.l).toBe(1);
  expect(vcpu.run().reason).toBe(ExitReason.HLT);
  expect(vcpu.getRegs().rip).toBe(0x1002n);
});

it('sets flat 32-bit segments for pm32 and selector-0 segments for real16', () => {
  for (const [mode, db, limit, cr0] of [
    ['pm32', 1, 0xffffffff, 0x11n],
    ['real16', 0, 0xffff, 0x60000010n],
  ] as const) {
    const machine = new Machine();
    const vcpu = new Vcpu(machine);
    setupConventionGuest(machine, vcpu, new Uint8Array([0xf4]), mode);
    const s = vcpu.getSregs();
    expect(s.cs.db).toBe(db);
    expect(s.ds.limit).toBe(limit);
    expect(s.cr0).toBe(cr0);
    expect(vcpu.run().reason).toBe(ExitReason.HLT);
  }
});

describeWithNasm('the convention monitor', () => {
  it('collects serial output and the exit code, answering port reads with 0xff', () => {
    const r = runGuest('real-hello', 'real16');
    expect(r.output).toBe('Hello, real mode!\n');
    expect(r.exitCode).toBe(0);
    expect(r.last).toMatchObject({ reason: ExitReason.IO_INSTRUCTION, port: Convention.EXIT_PORT });
  });
});
