/** Real mode, 32-bit protected mode, long mode, and the switches between them. */
import { expect, it } from 'vitest';
import { runConventionGuest } from '../vmx/index.js';
import { bootGuest, CodeRunner, describeWithNasm, runGuest } from './support/guests.js';

/** The sieve the pm32 guest builds: 1 for every multiple j >= p*p of a prime p. */
function sieve(n: number): Uint8Array {
  const s = new Uint8Array(n);
  for (let p = 2; p * p < n; p++) if (s[p] === 0) for (let j = p * p; j < n; j += p) s[j] = 1;
  return s;
}

function xorshiftSum(iterations: number): bigint {
  const m = (1n << 64n) - 1n;
  let x = 0x9e3779b97f4a7c15n;
  let sum = 0n;
  for (let k = 0; k < iterations; k++) {
    x ^= (x << 13n) & m;
    x ^= x >> 7n;
    x ^= (x << 17n) & m;
    sum = (sum + x) & m;
  }
  return sum;
}

describeWithNasm('CPU modes', () => {
  it('switches itself from real mode to protected mode to long mode', () => {
    const r = runGuest('mode-switch', 'real16');
    expect(r.output).toBe('RPL\n');
    expect(r.exitCode).toBe(0);
    const s = r.vcpu.getSregs();
    expect(s.efer & 0x500n).toBe(0x500n);
    expect(s.cs.l).toBe(1);
    expect(s.cs.selector).toBe(0x18);
    expect(s.cr0 & 0x80000001n).toBe(0x80000001n);
  });

  it('computes in 32-bit protected mode (sieve sum, FNV-1a hash printed via xlat)', () => {
    const s = sieve(10000);
    let sum = 0;
    for (let k = 2; k < 10000; k++) if (s[k] === 0) sum += k;
    let h = 2166136261;
    for (const b of s) h = Math.imul(h ^ b, 16777619) >>> 0;
    const r = runGuest('pm32-compute', 'pm32');
    expect(r.output).toBe(`${sum}\n${h.toString(16).padStart(8, '0')}\n`);
    expect(r.exitCode).toBe(0);
  });

  it('runs a 64-bit loop under the monitor-built identity map', () => {
    const { vcpu } = bootGuest('long64-compute', 'long64');
    const regs = vcpu.getRegs();
    regs.rdi = 20_000n;
    vcpu.setRegs(regs);
    const r = runConventionGuest(vcpu);
    expect(r.output).toBe(`${xorshiftSum(20_000).toString(16).padStart(16, '0')}\n`);
    expect(r.exitCode).toBe(0);
    expect(vcpu.instructionsRetired).toBeGreaterThan(200_000);
  });

  it('runs real-mode code with 16-bit wraparound and segment arithmetic', () => {
    const r = runGuest('real-interrupts', 'real16');
    expect(r.output).toBe('IE\n');
    expect(r.vcpu.getRegs().rbx & 0xffffn).toBe(42n);
  });
});

describeWithNasm('compatibility mode', () => {
  it('runs 32-bit code under long mode after a far jump to a CS with L=0, and comes back', () => {
    const r = new CodeRunner('long64').runAsm(`
      lgdt [gdt_desc]
      mov ax, 0x10
      mov ss, ax
      mov rsp, 0x7000
      jmp dword far [to32]    ; m16:32 (NASM picks m16:64 without "dword")
    bits 32
    compat:
      mov eax, 0xffffffff
      add eax, 2              ; 32-bit arithmetic: wraps to 1
      push eax                ; 4-byte push on the 32-bit stack
      pop ebx
      jmp 0x08:back
    bits 64
    back:
      mov rcx, rsp
      jmp done
    align 8
    to32:  dd compat
           dw 0x18
    gdt:   dq 0
           dq 0x00af9a000000ffff  ; 0x08: 64-bit code
           dq 0x00cf92000000ffff  ; 0x10: data
           dq 0x00cf9a000000ffff  ; 0x18: 32-bit code
    gdt_end:
    gdt_desc:
           dw gdt_end - gdt - 1
           dq gdt
    done:
    `);
    expect([r.rax, r.rbx, r.rcx]).toEqual([1n, 1n, 0x7000n]);
  });
});
