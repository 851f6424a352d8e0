// The bundled monitor in each mode, on /dev/kvm and on the emulated core: console output, exit code,
// the registers the guests leave, and HLT ending a run.
import { describe, expect, it } from 'vitest';
import type { Driver } from '../vmx/driver.js';
import { HostDriver, kvmUnavailable } from '../vmx/host/driver.js';
import { EmulatedKvm } from '../vmx/kvm/frontend.js';
import type { GuestMode } from '../vmx/monitor/choices.js';
import { runGuest } from '../vmx/monitor/monitor.js';
import { assembleGuest, describeWithNasm } from './support/guests.js';

const noKvm = kvmUnavailable();

const CASES: { guest: string; mode: GuestMode; output: string; exitCode: number; regs: Record<string, bigint> }[] = [
  { guest: 'run-real', mode: 'real', output: 'real mode ok\n', exitCode: 3, regs: { rbx: 0xffn, rcx: 0x1234n } },
  { guest: 'run-pm32', mode: 'pm32', output: 'pm32 ok\n', exitCode: 5, regs: { rbx: 5050n, rdi: 0xffffffffn, rbp: 0xcafen, rsp: 0x8000n } },
  { guest: 'run-long64', mode: 'long64', output: 'long64 ok\n', exitCode: 9, regs: { r8: 0x1234567890n, rbx: 0x369d0369bn, r9: 0x12345ffffn } },
];

const BACKENDS: [string, () => Driver, string | undefined][] = [
  ['/dev/kvm', () => new HostDriver(), noKvm],
  ['the emulated core', () => new EmulatedKvm(), undefined],
];

describeWithNasm('ioctlgrind run\'s monitor', () => {
  for (const [name, open, unavailable] of BACKENDS) {
    describe.skipIf(unavailable !== undefined)(`on ${name}${unavailable ? ` (skipped: ${unavailable})` : ''}`, () => {
      for (const c of CASES) {
        it(`runs a ${c.mode} guest: its output, exit code and registers`, () => {
          const r = runGuest(open(), assembleGuest(c.guest), { mode: c.mode });
          expect(r.output).toBe(c.output);
          expect(r.end).toBe('exit-port');
          expect(r.exitCode).toBe(c.exitCode);
          for (const [reg, value] of Object.entries(c.regs)) expect([reg, r.regs[reg]]).toEqual([reg, value]);
        });
      }

      it('ends the run at HLT', () => {
        const r = runGuest(open(), assembleGuest('run-halt'), { mode: 'real' });
        expect(r.end).toBe('hlt');
        expect(r.output).toBe('h');
        expect(r.exitCode).toBeUndefined();
        expect(r.exits.map((e) => e.reason)).toEqual(['KVM_EXIT_IO', 'KVM_EXIT_HLT']);
      });

      it('answers port and MMIO reads with 0xff and reports MMIO writes', () => {
        const r = runGuest(open(), assembleGuest('run-pm32'), { mode: 'pm32' });
        expect(r.exits.filter((e) => e.mmio)).toEqual([
          { reason: 'KVM_EXIT_MMIO', mmio: { addr: 0xb8000n, len: 4, isWrite: false } },
          { reason: 'KVM_EXIT_MMIO', mmio: { addr: 0xb8010n, len: 4, isWrite: true, data: [0x44, 0x33, 0x22, 0x11] } },
        ]);
      });

      it('refuses a guest that runs into the MMIO hole', () => {
        expect(() => runGuest(open(), new Uint8Array(0xb8000), { mode: 'real' })).toThrow(/fit below the MMIO hole/);
      });
    });
  }
});

describeWithNasm('ioctlgrind run\'s monitor on the emulated core alone', () => {
  it('stops with KVM_EXIT_INTERNAL_ERROR (emulation) at an instruction the core cannot execute', () => {
    const r = runGuest(new EmulatedKvm(), assembleGuest('unknown-insn'), { mode: 'pm32' });
    expect(r.end).toBe('internal-error');
    expect(r.detail).toBe('suberror 1');
    expect(r.regs.rip).toBe(0x1005n);
  });

  it('stops with KVM_EXIT_SHUTDOWN at a triple fault', () => {
    const r = runGuest(new EmulatedKvm(), assembleGuest('triple-fault'), { mode: 'pm32' });
    expect(r.end).toBe('shutdown');
  });

  it('ends a KVM_RUN with KVM_EXIT_INTR after the instruction budget, and runs on', () => {
    // A guest spinning 3000 times then exiting: a budget of 1000 instructions interrupts it.
    const spin = [0x66, 0xb9, 0xb8, 0x0b, 0x00, 0x00, 0xe2, 0xfe, 0xb0, 0x04, 0xe6, 0xf4]; // mov ecx, 3000; loop $; mov al, 4; out 0xf4, al
    const r = runGuest(new EmulatedKvm({ maxInstructionsPerRun: 1000 }), new Uint8Array(spin), { mode: 'real' });
    expect(r.end).toBe('exit-port');
    expect(r.exitCode).toBe(4);
    expect(r.exits.map((e) => e.reason)).toEqual(['KVM_EXIT_IO']);
  });
});
