/** Instruction semantics beyond the ALU: moves, stack, strings, control flow, in every code size. */
import { expect, it } from 'vitest';
import { ExitReason } from '../vmx/index.js';
import { CodeRunner, describeWithNasm } from './support/guests.js';

const DATA = 0x3000n;

describeWithNasm('data movement', () => {
  const c64 = new CodeRunner('long64');

  it('MOVZX/MOVSX/MOVSXD, CBW..CQO, BSWAP', () => {
    const r = c64.runAsm(`
      mov ebx, 0x80ff
      movzx eax, bl
      movsx rcx, bl
      movsx edx, bx
      mov esi, 0x80000000
      movsxd rsi, esi
      mov edi, 0x8000
      cwde
      mov r8d, 0x11223344
      bswap r8d
      mov r9, 0x1122334455667788
      bswap r9
      mov r10, -5
      mov rax, r10
      cqo
      mov r11, rdx
      mov eax, 0x80
      cbw
    `);
    expect(r.rcx).toBe(0xffffffffffffffffn);
    expect(r.rdx).toBe(0xffffffffffffffffn);
    expect(r.rsi).toBe(0xffffffff80000000n);
    expect(r.r8).toBe(0x44332211n);
    expect(r.r9).toBe(0x8877665544332211n);
    expect(r.r11).toBe(0xffffffffffffffffn);
    expect(r.rax & 0xffffn).toBe(0xff80n);
  });

  it('32-bit writes zero the upper half, 8/16-bit writes keep it; CMOVcc zero-extends even when false', () => {
    const r = c64.runAsm(`
      mov rax, -1
      mov eax, 1
      mov rbx, -1
      mov bx, 2
      mov rcx, -1
      mov cl, 3
      mov ah, 0x7f
      mov rdx, -1
      xor esi, esi
      cmp esi, 1
      cmove edx, esi
    `);
    expect(r.rax).toBe(0x7f01n);
    expect(r.rbx).toBe(0xffffffffffff0002n);
    expect(r.rcx).toBe(0xffffffffffffff03n);
    expect(r.rdx).toBe(0xffffffffn);
  });

  it('LEA computes offsets exactly, wrapping to the address and operand size', () => {
    const r = c64.runAsm(`
      mov rbx, 0x7fffffffffffffff
      lea rax, [rbx + rbx*2 + 5]
      lea ecx, [rbx + 1]
      lea dx, [rbx + 2]
    here:
      lea rsi, [rel here]
      mov rdi, here
    `);
    expect(r.rax).toBe(BigInt.asUintN(64, 0x7fffffffffffffffn * 3n + 5n));
    expect(r.rcx).toBe(0n);
    expect(r.rdx & 0xffffn).toBe(1n);
    expect(r.rsi).toBe(r.rdi);
  });

  it('XCHG, CMPXCHG (both outcomes) and XADD on memory', () => {
    const r = c64.runAsm(`
      mov qword [${DATA}], 10
      mov eax, 10
      mov ecx, 20
      cmpxchg [${DATA}], ecx
      setz r8b
      mov eax, 99
      cmpxchg [${DATA}], ecx
      setz r9b
      mov r10d, eax
      mov edx, 5
      xadd [${DATA}], edx
      mov r11d, [${DATA}]
      mov esi, 1
      xchg esi, [${DATA}]
    `);
    expect([r.r8 & 1n, r.r9 & 1n, r.r10, r.rdx, r.r11, r.rsi]).toEqual([1n, 0n, 20n, 20n, 25n, 25n]);
  });
});

describeWithNasm('stack', () => {
  it('PUSH/POP, PUSHAD/POPAD, PUSHFD/POPFD, ENTER/LEAVE in 32-bit code', () => {
    const r = new CodeRunner('pm32').runAsm(`
      mov eax, 1
      mov ecx, 2
      mov ebp, 0x7777
      pushad
      mov eax, 0
      mov ecx, 0
      popad
      push dword 0x12345678
      pop ebx
      stc
      pushfd
      clc
      popfd
      setc dl
      enter 16, 0
      mov esi, esp
      mov edi, ebp
      leave
    `);
    expect([r.rax, r.rcx, r.rbx, r.rdx & 0xffn, r.rbp, r.rsp]).toEqual([1n, 2n, 0x12345678n, 1n, 0x7777n, 0x8000n]);
    expect(r.rdi).toBe(0x8000n - 4n);
    expect(r.rsi).toBe(0x8000n - 4n - 16n);
  });

  it('CALL/RET with an immediate, and POP into a memory operand addressed by RSP', () => {
    const r = new CodeRunner('long64').runAsm(`
      push 7
      push 8
      call f
      jmp done
    f:
      mov rax, [rsp + 8]
      ret 16
    done:
      push 0x55
      pop qword [rsp - 8]
      mov rbx, [rsp - 8]
    `);
    expect([r.rax, r.rsp, r.rbx]).toEqual([8n, 0x8000n, 0x55n]);
  });
});

describeWithNasm('strings', () => {
  const c = new CodeRunner('pm32');

  it('REP MOVSB forward and backward (overlapping), REP STOSD, LODSW', () => {
    const r = c.runAsm(`
      cld
      mov edi, 0x3000
      mov eax, 0x04030201
      mov ecx, 2
      rep stosd
      mov esi, 0x3000
      mov edi, 0x3002
      mov ecx, 6
      std
      add esi, 5
      add edi, 5
      rep movsb
      cld
      mov esi, 0x3002
      lodsw
      mov ebx, [0x3000]
      mov edx, [0x3004]
    `);
    expect(r.rbx).toBe(0x02010201n);
    expect(r.rdx).toBe(0x02010403n);
    expect(r.rax & 0xffffn).toBe(0x0201n);
    expect(r.rsi).toBe(0x3004n);
  });

  it('REPE CMPSB stops at the first difference, REPNE SCASB at the first match', () => {
    const r = c.runAsm(`
      mov dword [0x3000], 0x44434241
      mov dword [0x3010], 0x45434241
      cld
      mov esi, 0x3000
      mov edi, 0x3010
      mov ecx, 8
      repe cmpsb
      mov ebx, ecx
      mov ebp, esi
      setz dl
      mov edi, 0x3000
      mov al, 0x43
      mov ecx, 8
      repne scasb
    `);
    expect([r.rbx, r.rbp, r.rdx & 0xffn]).toEqual([4n, 0x3004n, 0n]);
    expect([r.rcx, r.rdi]).toEqual([5n, 0x3003n]);
  });

  it('uses 16-bit SI/DI/CX with an address-size prefix in 32-bit code', () => {
    const r = c.runAsm(`
      mov esi, 0x12340000
      mov edi, 0x3000
      mov ecx, 0x10002
      mov dword [0], 0x6261
      a16 rep movsb
    `);
    expect(r.rcx).toBe(0x10000n);
    expect(r.rsi).toBe(0x12340002n);
    expect(c.machine.memory.read(0x3000, 2)).toEqual(new Uint8Array([0x61, 0x62]));
  });
});

describeWithNasm('control flow', () => {
  it('LOOP, JECXZ, Jcc, and a far CALL/RETF in real mode', () => {
    const r = new CodeRunner('real16').runAsm(`
      xor ax, ax
      mov cx, 5
    l1: add ax, cx
      loop l1
      jcxz ok
      mov ax, 0xdead
    ok:
      call 0:far_fn
      jmp end
    far_fn:
      mov bx, cs
      inc bx
      retf
    end:
    `);
    expect([r.rax, r.rbx]).toEqual([15n, 1n]);
  });

  it('indirect JMP and CALL through registers and memory in 64-bit code', () => {
    const r = new CodeRunner('long64').runAsm(`
      lea rax, [rel t1]
      jmp rax
      mov ebx, 1
    t1:
      lea rcx, [rel t2]
      mov [0x3000], rcx
      call [0x3000]
      jmp end
    t2:
      mov edx, 7
      ret
    end:
    `);
    expect([r.rbx, r.rdx]).toEqual([0n, 7n]);
  });
});

describeWithNasm('system calls and wide compare-exchange', () => {
  it('SYSCALL enters LSTAR at CPL 0 with RCX/R11 saved and SFMASK applied; SYSRETQ returns to CPL 3', () => {
    const cpu = new CodeRunner('long64');
    cpu.vcpu.setMsrs([
      { index: 0xc0000080, data: 0x501n }, // EFER: SCE | LME | LMA
      { index: 0xc0000081, data: (0x23n << 48n) | (0x08n << 32n) }, // STAR
      { index: 0xc0000082, data: 0x1100n }, // LSTAR
      { index: 0xc0000084, data: 0x200n }, // SFMASK: clear IF
    ]);
    cpu.machine.memory.write(0x1100, new Uint8Array([0x48, 0x89, 0xcb, 0x4c, 0x89, 0xde, 0x48, 0x0f, 0x07])); // mov rbx, rcx; mov rsi, r11; sysretq
    // sti; syscall; mov rdi, cs  (CPL 3 cannot HLT, so the run stops on the budget)
    cpu.machine.memory.write(0x1000, new Uint8Array([0xfb, 0x0f, 0x05, 0x48, 0x8c, 0xcf]));
    expect(cpu.vcpu.run({ maxInstructions: 6 }).reason).toBe(ExitReason.PREEMPTION_TIMER);
    const r = cpu.vcpu.getRegs();
    expect(r.rip).toBe(0x1006n);
    expect(r.rbx).toBe(0x1003n);
    expect(r.rsi & 0x200n).toBe(0x200n);
    expect(r.rdi).toBe(0x33n);
    const s = cpu.vcpu.getSregs();
    expect([s.cs.selector, s.cs.l, s.cs.dpl, s.ss.selector]).toEqual([0x33, 1, 3, 0x2b]);
  });

  it('CMPXCHG8B and CMPXCHG16B', () => {
    const r = new CodeRunner('long64').runAsm(`
      mov qword [0x3000], 5
      mov qword [0x3008], 6
      mov eax, 5
      xor edx, edx
      mov ebx, 0x11
      mov ecx, 0x22
      cmpxchg8b [0x3000]
      setz r8b
      mov r9, [0x3000]
      mov eax, 5
      mov edx, 6
      cmpxchg16b [0x3000]
      setz r10b
      mov r11, rax
    `);
    expect([r.r8 & 1n, r.r9, r.r10 & 1n, r.r11]).toEqual([1n, 0x2200000011n, 0n, 0x2200000011n]);
  });
});
