/**
 * Port I/O exits and their completion protocol, string I/O included: RIP stays on the
 * instruction at the exit and moves on at the next run; OUTS hands one element per exit; INS
 * asks for min(bytes left in the page, 1024 / size, rCX) elements at once.
 */
import { describe, expect, it } from 'vitest';
import { ExitReason, type IoExit } from '../vmx/index.js';
import { bootGuest, CodeRunner, describeWithNasm } from './support/guests.js';

describeWithNasm('string I/O guest', () => {
  it('delivers REP INSB as one exit, REP OUTSW one word per exit, and backwards INSW', () => {
    const { vcpu, ram } = bootGuest('string-io', 'real16');
    const exits: IoExit[] = [];
    const inData = [Uint8Array.from({ length: 10 }, (_, k) => 0x41 + k), new Uint8Array([1, 2, 3, 4])];
    for (;;) {
      const e = vcpu.run({ maxInstructions: 1000 });
      expect(e.reason).toBe(ExitReason.IO_INSTRUCTION);
      const io = e as IoExit;
      exits.push({ ...io, data: io.data.slice() });
      if (io.port === 0xf4) break;
      if (io.direction === 'in') vcpu.completeIo(inData.shift() as Uint8Array);
    }
    const summary = exits.map((e) => [e.direction, e.port, e.size, e.count, e.string, e.rep]);
    expect(summary).toEqual([
      ['in', 0x60, 1, 10, true, true],
      ...Array.from({ length: 5 }, () => ['out', 0x3f8, 2, 1, true, true]),
      ['in', 0x61, 2, 2, true, true],
      ['out', 0xf4, 1, 1, false, false],
    ]);
    const out = exits.slice(1, 6).flatMap((e) => [...e.data]);
    expect(String.fromCharCode(...out)).toBe('ABCDEFGHIJ');
    // INSW with DF=1 stores the first word at the start address and walks down.
    const buf2 = ram.indexOf(0, 0x1000 + 0x30);
    expect(buf2).toBeGreaterThan(0);
    const regs = vcpu.getRegs();
    expect(regs.rcx & 0xffffn).toBe(0n);
  });
});

describe('I/O exit protocol', () => {
  it('keeps RIP on an IN until completeIo and refuses to run without the data', () => {
    const cpu = new CodeRunner('pm32');
    cpu.machine.memory.write(0x1000, new Uint8Array([0x66, 0xba, 0x34, 0x12, 0xed, 0xf4])); // mov dx,0x1234; in eax,dx; hlt
    const e = cpu.vcpu.run();
    expect(e).toMatchObject({ reason: ExitReason.IO_INSTRUCTION, port: 0x1234, size: 4, direction: 'in', count: 1 });
    expect(cpu.vcpu.getRegs().rip).toBe(0x1004n);
    expect(() => cpu.vcpu.run()).toThrow(/completeIo/);
    cpu.vcpu.completeIo(new Uint8Array([0x78, 0x56, 0x34, 0x12]));
    expect(cpu.vcpu.run().reason).toBe(ExitReason.HLT);
    expect(cpu.vcpu.getRegs().rax).toBe(0x12345678n);
  });

  it('hands OUT data in the exit and completes it on re-entry', () => {
    const cpu = new CodeRunner('long64');
    cpu.machine.memory.write(0x1000, new Uint8Array([0x66, 0xe7, 0x80, 0xf4])); // out 0x80, ax; hlt
    const r = cpu.vcpu.getRegs();
    r.rax = 0xbeefn;
    cpu.vcpu.setRegs(r);
    const e = cpu.vcpu.run() as IoExit;
    expect(e).toMatchObject({ reason: ExitReason.IO_INSTRUCTION, port: 0x80, size: 2, direction: 'out', count: 1 });
    expect([...e.data]).toEqual([0xef, 0xbe]);
    expect(cpu.vcpu.getRegs().rip).toBe(0x1000n);
    expect(cpu.vcpu.run().reason).toBe(ExitReason.HLT);
  });

  it('commits rSI and rCX of each OUTS element before its exit, RIP staying on the REP instruction (as KVM)', () => {
    const cpu = new CodeRunner('pm32');
    cpu.machine.memory.write(0x3000, new Uint8Array([7, 8]));
    cpu.machine.memory.write(0x1000, new Uint8Array([0xf3, 0x6e, 0xf4])); // rep outsb; hlt
    const r = cpu.vcpu.getRegs();
    Object.assign(r, { rsi: 0x3000n, rcx: 2n, rdx: 0x3f8n });
    cpu.vcpu.setRegs(r);
    const seen = [0, 1].map(() => {
      const e = cpu.vcpu.run() as IoExit;
      const regs = cpu.vcpu.getRegs();
      return [e.data[0], regs.rsi, regs.rcx, regs.rip];
    });
    expect(seen).toEqual([
      [7, 0x3001n, 1n, 0x1000n],
      [8, 0x3002n, 0n, 0x1000n],
    ]);
    expect(cpu.vcpu.run().reason).toBe(ExitReason.HLT);
    expect(cpu.vcpu.getRegs().rip).toBe(0x1003n);
    // Without REP, RIP moves past the instruction before the exit.
    cpu.machine.memory.write(0x1000, new Uint8Array([0x6e, 0xf4])); // outsb; hlt
    const again = cpu.vcpu.getRegs();
    again.rip = 0x1000n;
    cpu.vcpu.setRegs(again);
    expect(cpu.vcpu.run()).toMatchObject({ reason: ExitReason.IO_INSTRUCTION, data: new Uint8Array([0]) });
    expect(cpu.vcpu.getRegs().rip).toBe(0x1001n);
  });

  it('retires OUT to port 0x7e before exiting (KVM quirk) but not OUT to other ports', () => {
    const cpu = new CodeRunner('pm32');
    cpu.machine.memory.write(0x1000, new Uint8Array([0xe6, 0x7e, 0xe6, 0x7f, 0xf4])); // out 0x7e, al; out 0x7f, al; hlt
    expect(cpu.vcpu.run()).toMatchObject({ port: 0x7e });
    expect(cpu.vcpu.getRegs().rip).toBe(0x1002n);
    expect(cpu.vcpu.run()).toMatchObject({ port: 0x7f });
    expect(cpu.vcpu.getRegs().rip).toBe(0x1002n);
    expect(cpu.vcpu.run().reason).toBe(ExitReason.HLT);
    expect(cpu.vcpu.getRegs().rip).toBe(0x1005n);
  });

  it('checks the TSS I/O bitmap when CPL > IOPL, before exiting', () => {
    const cpu = new CodeRunner('long64');
    const mem = cpu.machine.memory;
    // User-accessible identity map, CPL 3 segments, a TSS at 0x4000 whose bitmap starts at 0x68.
    mem.write(0x100000, new Uint8Array([0x07, 0x10, 0x10, 0]));
    mem.write(0x101000, new Uint8Array([0x07, 0x20, 0x10, 0]));
    mem.write(0x102000, new Uint8Array([0x87, 0, 0, 0]));
    mem.write(0x4066, new Uint8Array([0x68, 0]));
    mem.write(0x4068 + (0x81 >> 3), new Uint8Array([1 << (0x81 & 7)]));
    const s = cpu.vcpu.getSregs();
    s.cs = { ...s.cs, selector: 0x33, dpl: 3 };
    s.ss = { ...s.ss, selector: 0x2b, dpl: 3 };
    s.tr = { ...s.tr, base: 0x4000n, limit: 0x68 + 0x2000 };
    cpu.vcpu.setSregs(s);
    mem.write(0x1000, new Uint8Array([0xe6, 0x80, 0xe6, 0x81])); // out 0x80, al; out 0x81, al
    expect(cpu.vcpu.run()).toMatchObject({ reason: ExitReason.IO_INSTRUCTION, port: 0x80 });
    // Port 0x81 is denied: #GP, and without an IDT a triple fault.
    expect(cpu.vcpu.run().reason).toBe(ExitReason.TRIPLE_FAULT);
  });

  it('limits a REP INSB read-ahead to the bytes left in the destination page and to 1024 / size', () => {
    const cpu = new CodeRunner('pm32');
    // rep insb; rep insd; hlt
    cpu.machine.memory.write(0x1000, new Uint8Array([0xf3, 0x6c, 0xf3, 0x6d, 0xf4]));
    const r = cpu.vcpu.getRegs();
    r.rdi = 0x20ffdn;
    r.rcx = 5000n;
    cpu.vcpu.setRegs(r);
    const counts: number[] = [];
    for (let k = 0; k < 5; k++) {
      const e = cpu.vcpu.run() as IoExit;
      counts.push(e.count);
      cpu.vcpu.completeIo(new Uint8Array(e.count * e.size).fill(k + 1));
    }
    expect(counts).toEqual([3, 1024, 1024, 1024, 1024]);
    expect(cpu.machine.memory.read(0x20ffd, 4)).toEqual(new Uint8Array([1, 1, 1, 2]));
    // The fifth batch is stored when the vCPU next runs.
    const regs = cpu.vcpu.getRegs();
    expect(regs.rcx).toBe(5000n - 3n - 3n * 1024n);
    expect(regs.rdi).toBe(0x20ffdn + 3n + 3n * 1024n);
  });
});

describe('I/O completion after the monitor moved RIP', () => {
  it('abandons the pending IN instead of completing it, as KVM does', () => {
    const cpu = new CodeRunner('pm32');
    cpu.machine.memory.write(0x1000, new Uint8Array([0xe4, 0x60, 0xf4, 0x90, 0xf4])); // in al, 0x60; hlt; nop; hlt
    expect(cpu.vcpu.run()).toMatchObject({ reason: ExitReason.IO_INSTRUCTION, direction: 'in' });
    cpu.vcpu.completeIo(new Uint8Array([0x42]));
    const r = cpu.vcpu.getRegs();
    r.rip = 0x1003n;
    cpu.vcpu.setRegs(r);
    expect(cpu.vcpu.run().reason).toBe(ExitReason.HLT);
    const after = cpu.vcpu.getRegs();
    expect([after.rip, after.rax & 0xffn]).toEqual([0x1005n, 0n]);
  });
});
