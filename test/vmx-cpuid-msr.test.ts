/** CPUID from the vCPU's table with KVM's lookup rules; in-kernel MSRs; the virtual TSC. */
import { describe, expect, it } from 'vitest';
import { ExitReason, KVM_CPUID_FLAG_SIGNIFCANT_INDEX, Machine, Msr, TSC_PER_INSTRUCTION, Vcpu, type KvmCpuidEntry } from '../vmx/index.js';
import { bootGuest, describeWithNasm, runGuest } from './support/guests.js';

const le = (s: string): number => s.split('').reduce((v, ch, k) => v | (ch.charCodeAt(0) << (8 * k)), 0) >>> 0;
const entry = (fn: number, eax: number, ebx = 0, ecx = 0, edx = 0, index = 0, flags = 0): KvmCpuidEntry => ({ function: fn, index, flags, eax, ebx, ecx, edx });
const INTEL = [entry(0, 0xd, le('Genu'), le('ntel'), le('ineI')), entry(1, 0x000906ea, 0x800, 0x80202001, 0x178bfbff), entry(0xd, 0xdd, 0xee, 0xff, 0x11), entry(0x80000000, 0x80000008)];

describeWithNasm('CPUID guest', () => {
  it('answers from the table in kernel (no exit) and applies the max-basic-leaf rule', () => {
    const { vcpu } = bootGuest('cpuid', 'pm32');
    vcpu.setCpuid(INTEL);
    const exits: number[] = [];
    let output = '';
    for (;;) {
      const e = vcpu.run({ maxInstructions: 10_000 });
      exits.push(e.reason);
      if (e.reason !== ExitReason.IO_INSTRUCTION) break;
      if (e.port === 0xf4) break;
      output += String.fromCharCode(...e.data);
    }
    expect(exits.every((r) => r === ExitReason.IO_INSTRUCTION)).toBe(true);
    expect(output).toBe('GenuineIntel');
    const r = vcpu.getRegs();
    expect(r.rsi).toBe(0x000906ean);
    // Leaf 0x7fffffff is beyond the basic range: leaf 0xd's values (EAX was pushed, AL reused).
    expect([r.rbx, r.rcx, r.rdx]).toEqual([0xeen, 0xffn, 0x11n]);
  });
});

describe('CPUID lookup rules', () => {
  const lookup = (entries: KvmCpuidEntry[], fn: number, index = 0): number[] => {
    const vcpu = new Vcpu(new Machine());
    vcpu.setCpuid(entries);
    const out = new Uint32Array(4);
    vcpu.cpuid(fn, index, out);
    return [...out];
  };

  it('matches the index only for entries flagged SIGNIFCANT_INDEX', () => {
    const t = [...INTEL, entry(7, 1, 2, 3, 4, 0, KVM_CPUID_FLAG_SIGNIFCANT_INDEX), entry(7, 5, 6, 7, 8, 1, KVM_CPUID_FLAG_SIGNIFCANT_INDEX), entry(6, 9, 9, 9, 9, 0, 0)];
    expect(lookup(t, 7, 1)).toEqual([5, 6, 7, 8]);
    expect(lookup(t, 7, 2)).toEqual([0, 0, 0, 0]);
    expect(lookup(t, 6, 5)).toEqual([9, 9, 9, 9]);
  });

  it('returns zeros for missing in-range leaves and for out-of-range ones on AMD', () => {
    expect(lookup(INTEL, 5)).toEqual([0, 0, 0, 0]);
    expect(lookup(INTEL, 0x80000005)).toEqual([0, 0, 0, 0]);
    expect(lookup(INTEL, 0x80000009)).toEqual([0xdd, 0xee, 0xff, 0x11]);
    const amd = [entry(0, 0xd, le('Auth'), le('cAMD'), le('enti')), entry(0xd, 1, 1, 1, 1)];
    expect(lookup(amd, 0x20)).toEqual([0, 0, 0, 0]);
  });
});

describeWithNasm('MSR guest', () => {
  it('round-trips in-kernel MSRs and injects #GP for unknown ones', () => {
    const r = runGuest('msr', 'pm32');
    expect(r.output).toBe('ok');
    expect(r.exitCode).toBe(0);
    expect(r.vcpu.getRegs().rdi).toBe(2n);
    expect(r.vcpu.getMsrs([Msr.LSTAR, Msr.SYSENTER_EIP])).toEqual([
      { index: Msr.LSTAR, data: 0xffff800012345678n },
      { index: Msr.SYSENTER_EIP, data: 0xcafen },
    ]);
  });

  it('has a deterministic TSC: two runs read the same values, advancing per instruction', () => {
    const reads = [0, 1].map(() => {
      const { vcpu, ram } = bootGuest('msr', 'pm32');
      for (let e = vcpu.run(); !(e.reason === ExitReason.IO_INSTRUCTION && e.port === 0xf4); e = vcpu.run()) {
        /* serial output */
      }
      const view = new DataView(ram.buffer);
      return [view.getBigUint64(0x7000, true), view.getBigUint64(0x7008, true)];
    });
    expect(reads[0]).toEqual(reads[1]);
    // rdtsc; mov [0x7000], eax; mov [0x7004], edx; nop; rdtsc: four instructions apart.
    expect(reads[0][1] - reads[0][0]).toBe(4n * TSC_PER_INSTRUCTION);
  });
});

describe('MSR access from the monitor', () => {
  it('stops KVM_SET_MSRS-style writes at the first failure and validates values', () => {
    const vcpu = new Vcpu(new Machine());
    expect(vcpu.setMsrs([{ index: Msr.STAR, data: 1n }, { index: 0xdead, data: 0n }, { index: Msr.CSTAR, data: 2n }])).toBe(1);
    expect(vcpu.setMsrs([{ index: Msr.LSTAR, data: 0x0000800000000000n }])).toBe(0);
    expect(vcpu.setMsrs([{ index: Msr.PAT, data: 0x0202020202020202n }])).toBe(0);
    expect(vcpu.getMsrs([Msr.PAT, Msr.MISC_ENABLE, Msr.APIC_BASE])).toEqual([
      { index: Msr.PAT, data: 0x0007040600070406n },
      { index: Msr.MISC_ENABLE, data: 0x1800n },
      { index: Msr.APIC_BASE, data: 0xfee00900n },
    ]);
  });

  it('sets the TSC by moving the offset', () => {
    const vcpu = new Vcpu(new Machine());
    vcpu.setMsrs([{ index: Msr.TSC, data: 1000n }]);
    expect(vcpu.rdtsc()).toBe(1000n);
  });
});
