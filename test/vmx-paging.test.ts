/** Paging: guest-built 32-bit tables, page faults with CR2 and error codes, A/D bits, long mode. */
import { describe, expect, it } from 'vitest';
import { CodeRunner, describeWithNasm, runGuest } from './support/guests.js';

describeWithNasm('32-bit paging guest', () => {
  it('maps pages, takes a #PF for a not-present page and retries after the handler maps it', () => {
    const r = runGuest('paging32', 'pm32');
    expect(r.exitCode).toBe(0);
    const view = new DataView(r.ram.buffer);
    expect(view.getUint32(0x1f0000, true)).toBe(0x11111111);
    expect(view.getUint32(0x1f1000, true)).toBe(0x22222222);
    // Find the handler's variables by value: CR2, then the error code (present=0, write=1).
    const words = Array.from({ length: 0x200 }, (_, k) => view.getUint32(0x1000 + 4 * k, true));
    const at = words.findIndex((w, k) => w === 0x401000 && words[k + 1] === 0x2 && words[k + 2] === 1);
    expect(at).toBeGreaterThan(0);
    // Accessed and dirty bits set by the walk on the PDE and the written PTEs.
    const pde1 = view.getUint32(0x20004, true);
    const pte = view.getUint32(0x22000, true);
    expect(pde1 & 0x20).toBe(0x20);
    expect(pte & 0x60).toBe(0x60);
    expect(view.getUint32(0x22004, true) & 0x60).toBe(0x60);
    expect(r.vcpu.getSregs().cr2).toBe(0x401000n);
  });
});

describe('long-mode paging', () => {
  it('walks the monitor-built identity map and sets the accessed/dirty bits on the 2 MiB page', () => {
    const cpu = new CodeRunner('long64');
    // mov dword [0x1ff000], 0x12345678; mov eax, [0x1ff000]; hlt
    const out = cpu.run([0xc7, 0x04, 0x25, 0x00, 0xf0, 0x1f, 0x00, 0x78, 0x56, 0x34, 0x12, 0x8b, 0x04, 0x25, 0x00, 0xf0, 0x1f, 0x00]);
    expect(out.rax).toBe(0x12345678n);
    const pd = cpu.machine.memory.read(0x102000, 8);
    expect(pd[0] & 0x60).toBe(0x60);
  });

  it('raises #PF outside the mapped 2 MiB (escalating to a triple fault without an IDT)', () => {
    const cpu = new CodeRunner('long64');
    // mov eax, [0x200000]
    expect(() => cpu.run([0x8b, 0x04, 0x25, 0x00, 0x00, 0x20, 0x00])).toThrow(/"reason":2/);
    expect(cpu.vcpu.getSregs().cr2).toBe(0x200000n);
  });

  it('faults instruction fetches, not data reads, on an XD page under EFER.NXE', () => {
    const cpu = new CodeRunner('long64');
    const mem = cpu.machine.memory;
    mem.write(0x102008, new Uint8Array([0x83, 0, 0, 0, 0, 0, 0, 0x80])); // PD[1]: linear 0x200000 -> physical 0, XD
    expect(cpu.vcpu.setMsrs([{ index: 0xc0000080, data: 0xd00n }])).toBe(1); // EFER: NXE | LMA | LME
    // mov eax, [0x200000] works (data reads ignore XD); jmp 0x200000 faults.
    expect(() => cpu.run([0x8b, 0x04, 0x25, 0x00, 0x00, 0x20, 0x00, 0xe9, ...new Uint8Array(new Int32Array([0x200000 - 0x100c]).buffer)])).toThrow(/"reason":2/);
    expect(cpu.vcpu.getSregs().cr2).toBe(0x200000n);
  });

  it('translates through a 4 KiB page table the guest adds at run time', () => {
    const cpu = new CodeRunner('long64');
    const mem = cpu.machine.memory;
    // PD[1] -> page table at 0x103000 whose entry 0 maps linear 0x200000 to physical 0x1f0000.
    mem.write(0x102008, new Uint8Array([0x03, 0x30, 0x10, 0, 0, 0, 0, 0]));
    mem.write(0x103000, new Uint8Array([0x03, 0x00, 0x1f, 0, 0, 0, 0, 0]));
    mem.write(0x1f0000, new Uint8Array([0xef, 0xbe, 0xad, 0xde]));
    const out = cpu.run([0x8b, 0x04, 0x25, 0x00, 0x00, 0x20, 0x00]);
    expect(out.rax).toBe(0xdeadbeefn);
  });
});

describeWithNasm('high-half addresses', () => {
  it('runs code and addresses data through a -2 GiB alias (RIP, RIP-relative, stack, absolute)', () => {
    const cpu = new CodeRunner('long64');
    const mem = cpu.machine.memory;
    // PML4[511] -> the PDPT, PDPT[510] -> the PD: 0xffffffff80000000 aliases physical 0.
    mem.write(0x100000 + 511 * 8, new Uint8Array([0x03, 0x10, 0x10, 0]));
    mem.write(0x101000 + 510 * 8, new Uint8Array([0x03, 0x20, 0x10, 0]));
    mem.write(0x3000, new Uint8Array([0x44, 0x33, 0x22, 0x11]));
    const r = cpu.runAsm(`
      mov rax, 0xffffffff80000000
      add rax, high
      jmp rax
    high:
      lea rbx, [rel high]
      mov rsi, high
      call f
      mov rdx, [rsp - 8]
      mov ecx, [abs 0xffffffff80003000]
      mov rax, low
      jmp rax
    f:
      ret
    low:
    `);
    expect(r.rbx).toBe(0xffffffff80000000n + r.rsi);
    expect(r.rdx >> 32n).toBe(0xffffffffn);
    expect(r.rcx).toBe(0x11223344n);
  });
});

describeWithNasm('PAE paging', () => {
  it('walks PDPTE -> PD (2 MiB page) and PD -> PT (4 KiB page), ignoring XD without EFER.NXE', () => {
    const cpu = new CodeRunner('pm32');
    const mem = cpu.machine.memory;
    const q = (v: bigint): Uint8Array => new Uint8Array(new BigUint64Array([v]).buffer);
    mem.write(0x20000, q(0x21001n)); // PDPTE 0 -> PD (present)
    mem.write(0x21000, q(0x83n)); // PD[0]: 2 MiB page at 0, writable
    mem.write(0x21008, q(0x22003n)); // PD[1] -> PT
    mem.write(0x22000, q(0x8000000000000000n | 0x1f0003n)); // PT[0]: 0x200000 -> 0x1f0000, NX
    mem.write(0x1f0000, new Uint8Array([0x78, 0x56, 0x34, 0x12]));
    const r = cpu.runAsm(`
      mov eax, 0x20000
      mov cr3, eax
      mov eax, cr4
      or eax, 0x20
      mov cr4, eax
      mov eax, cr0
      or eax, 0x80000000
      mov cr0, eax
      mov ebx, [0x200000]
    `);
    expect(r.rbx).toBe(0x12345678n);
    // Accessed bits on the PDE and PTE, none on the PDPTE (PAE PDPTEs have no A bit).
    expect(mem.read(0x21008, 1)[0] & 0x20).toBe(0x20);
    expect(mem.read(0x22000, 1)[0] & 0x20).toBe(0x20);
    expect(mem.read(0x20000, 1)[0]).toBe(0x01);
  });
});
