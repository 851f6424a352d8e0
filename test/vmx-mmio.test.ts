/**
 * MMIO: accesses outside every slot and writes to read-only slots exit with gpa/size/data; a
 * read is completed by the monitor's data; slot EPT permissions that deny an access exit with
 * EPT_VIOLATION before the instruction does anything.
 */
import { describe, expect, it } from 'vitest';
import { ExitReason, Perm, type MmioExit, type VmExit } from '../vmx/index.js';
import { bootGuest, CodeRunner, describeWithNasm } from './support/guests.js';

describeWithNasm('MMIO guest (hole at 0xb8000)', () => {
  it('exits for each access, completing reads with the monitor data', () => {
    const { vcpu, ram } = bootGuest('mmio', 'pm32');
    const seen: [boolean, number, number, number[]][] = [];
    const replies = new Map([
      [0xb8010, [0x78, 0x56, 0x34, 0x12]],
      [0xb8020, [0xfe, 0xff, 0xff, 0xff]],
      [0xb8030, [0x99]],
    ]);
    let last: VmExit;
    for (;;) {
      last = vcpu.run({ maxInstructions: 1000 });
      if (last.reason !== ExitReason.EPT_MISCONFIG) break;
      seen.push([last.isWrite, last.gpa, last.size, [...last.data]]);
      if (!last.isWrite) vcpu.completeMmio(new Uint8Array(replies.get(last.gpa) as number[]));
    }
    expect(last).toMatchObject({ reason: ExitReason.IO_INSTRUCTION, port: 0xf4, data: new Uint8Array([0]) });
    expect(seen).toEqual([
      [true, 0xb8000, 1, [0x41]],
      [true, 0xb8002, 2, [0x42, 0x07]],
      [true, 0xb8004, 4, [0xef, 0xbe, 0xad, 0xde]],
      [false, 0xb8010, 4, [0, 0, 0, 0]],
      [false, 0xb8020, 4, [0, 0, 0, 0]],
      [true, 0xb8020, 4, [3, 0, 0, 0]],
      [false, 0xb8030, 1, [0]],
    ]);
    const regs = vcpu.getRegs();
    expect(regs.rax & 0xffffff00n).toBe(0x12345600n);
    expect(regs.rbx).toBe(0x99n);
    expect(regs.rsi).toBe(0x600dn);
    // The plain RAM store between the MMIO accesses went to RAM.
    expect(ram[0x7000]).toBe(0x78);
  });
});

describe('slots', () => {
  it('exits as MMIO for writes to a read-only slot while reads are served from it', () => {
    const cpu = new CodeRunner('pm32');
    const rom = new Uint8Array(4096).fill(0x5a);
    cpu.machine.setSlot({ slot: 5, gpa: 0x300000, size: 4096, backing: rom, readonly: true });
    // mov eax, [0x300000]; mov byte [0x300004], 7; hlt
    cpu.machine.memory.write(0x1000, new Uint8Array([0xa1, 0x00, 0x00, 0x30, 0x00, 0xc6, 0x05, 0x04, 0x00, 0x30, 0x00, 0x07, 0xf4]));
    const e = cpu.vcpu.run() as MmioExit;
    expect(e).toMatchObject({ reason: ExitReason.EPT_MISCONFIG, gpa: 0x300004, size: 1, isWrite: true });
    expect([...e.data]).toEqual([7]);
    expect(cpu.vcpu.getRegs().rax).toBe(0x5a5a5a5an);
    expect(rom[4]).toBe(0x5a);
    expect(cpu.vcpu.run().reason).toBe(ExitReason.HLT);
  });

  it('exits with EPT_VIOLATION when slot permissions deny the access, before it happens', () => {
    const cpu = new CodeRunner('pm32');
    const data = new Uint8Array(4096);
    cpu.machine.setSlot({ slot: 6, gpa: 0x400000, size: 4096, backing: data, perms: Perm.R });
    // mov dword [0x400010], 1; hlt
    cpu.machine.memory.write(0x1000, new Uint8Array([0xc7, 0x05, 0x10, 0x00, 0x40, 0x00, 0x01, 0x00, 0x00, 0x00, 0xf4]));
    const e = cpu.vcpu.run();
    expect(e).toMatchObject({ reason: ExitReason.EPT_VIOLATION, gpa: 0x400010, access: 'write' });
    expect(e.reason === ExitReason.EPT_VIOLATION && e.qualification & 0x3f).toBe(0x2 | (Perm.R << 3));
    expect(cpu.vcpu.getRegs().rip).toBe(0x1000n);
    expect(data[0x10]).toBe(0);
    // Granting the permission lets the same instruction complete.
    cpu.machine.setSlot({ slot: 6, gpa: 0x400000, size: 4096, backing: data, perms: Perm.RWX });
    expect(cpu.vcpu.run().reason).toBe(ExitReason.HLT);
    expect(data[0x10]).toBe(1);
  });

  it('refuses to execute from a slot without X permission', () => {
    const cpu = new CodeRunner('pm32');
    const code = new Uint8Array(4096);
    code[0] = 0xf4;
    cpu.machine.setSlot({ slot: 7, gpa: 0x500000, size: 4096, backing: code, perms: Perm.R | Perm.W });
    cpu.machine.memory.write(0x1000, new Uint8Array([0xe9, ...new Uint8Array(new Uint32Array([0x500000 - 0x1005]).buffer)]));
    expect(cpu.vcpu.run()).toMatchObject({ reason: ExitReason.EPT_VIOLATION, gpa: 0x500000, access: 'fetch' });
  });
});
