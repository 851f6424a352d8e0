// The HAXM sample monitor on the HAXM front-end of the emulated core: the run guests give the same
// output, exit code and registers as the KVM monitor on the KVM front-end; HLT, MMIO, triple faults
// and on-demand pages (PROTECT_RAM and PAGEFAULT exits) end or go on as they should.
import { describe, expect, it } from 'vitest';
import { EmulatedHaxm } from '../vmx/haxm/frontend.js';
import { EmulatedKvm } from '../vmx/kvm/frontend.js';
import { runHaxmGuest } from '../vmx/monitor/haxm-monitor.js';
import type { GuestMode } from '../vmx/monitor/choices.js';
import { runGuest } from '../vmx/monitor/monitor.js';
import { assembleGuest, describeWithNasm } from './support/guests.js';

const CASES: { guest: string; mode: GuestMode; regs: string[] }[] = [
  { guest: 'run-real', mode: 'real', regs: ['rbx', 'rcx'] },
  { guest: 'run-pm32', mode: 'pm32', regs: ['rbx', 'rdi', 'rbp', 'rsp'] },
  { guest: 'run-halt', mode: 'real', regs: ['rip'] },
  { guest: 'triple-fault', mode: 'real', regs: [] },
  { guest: 'unknown-insn', mode: 'real', regs: [] },
];

describeWithNasm('the HAXM monitor on the emulated core', () => {
  for (const c of CASES) {
    it(`runs ${c.guest} (${c.mode}) as the KVM monitor does on the KVM front-end`, () => {
      const image = assembleGuest(c.guest);
      const kvm = runGuest(new EmulatedKvm(), image, { mode: c.mode });
      const haxm = runHaxmGuest(new EmulatedHaxm(), image, { mode: c.mode });
      expect({ output: haxm.output, exitCode: haxm.exitCode, end: haxm.end }).toEqual({ output: kvm.output, exitCode: kvm.exitCode, end: kvm.end });
      for (const reg of c.regs) expect([reg, haxm.regs[`_${reg}`]]).toEqual([reg, kvm.regs[reg]]);
    });
  }

  it('serves port I/O and fast MMIO through the tunnel', () => {
    const r = runHaxmGuest(new EmulatedHaxm(), assembleGuest('run-pm32'), { mode: 'pm32' });
    expect(r.exits.filter((e) => e.mmio)).toEqual([
      { reason: 'HAX_EXIT_FAST_MMIO', mmio: { addr: 0xb8000n, len: 4, isWrite: false } },
      { reason: 'HAX_EXIT_FAST_MMIO', mmio: { addr: 0xb8010n, len: 4, isWrite: true, data: [0x44, 0x33, 0x22, 0x11] } },
    ]);
    const real = runHaxmGuest(new EmulatedHaxm(), assembleGuest('run-real'), { mode: 'real' });
    expect(real.exits.find((e) => e.io?.direction === 'in')).toEqual({ reason: 'HAX_EXIT_IO', io: { direction: 'in', port: 0x61, size: 1, count: 1 } });
    expect(real.regs._rbx).toBe(0xffn);
  });

  it('ends the run at HLT after the output', () => {
    const r = runHaxmGuest(new EmulatedHaxm(), assembleGuest('run-halt'), { mode: 'real' });
    expect(r.exits.map((e) => e.reason)).toEqual(['HAX_EXIT_IO', 'HAX_EXIT_HLT']);
  });

  it('loads protected pages on demand: one PAGEFAULT exit per page at its first touch', () => {
    const image = assembleGuest('run-real');
    const plain = runHaxmGuest(new EmulatedHaxm(), image, { mode: 'real' });
    const lazy = runHaxmGuest(new EmulatedHaxm(), image, { mode: 'real', lazy: { gpa: 0, size: 0x10000 } });
    expect({ output: lazy.output, exitCode: lazy.exitCode }).toEqual({ output: plain.output, exitCode: plain.exitCode });
    const faults = lazy.exits.filter((e) => e.reason === 'HAX_EXIT_PAGEFAULT');
    // The guest touches one protected page: its code (with its message) at 0x1000.
    expect(faults).toHaveLength(1);
    expect(lazy.exitCount - plain.exitCount).toBe(faults.length);
  });

  it('refuses long64 guests, which need the identity map', () => {
    expect(() => runHaxmGuest(new EmulatedHaxm(), assembleGuest('run-long64'), { mode: 'long64' })).toThrow(/real and pm32/);
  });
});
