// The same guests through the same monitor on /dev/kvm and on the emulated core's KVM front-end:
// the same exits in the same order, the same console output and exit code, the same final registers.
import { expect, it } from 'vitest';
import type { Driver } from '../vmx/driver.js';
import { HostDriver, kvmUnavailable } from '../vmx/host/driver.js';
import { EmulatedKvm } from '../vmx/kvm/frontend.js';
import type { GuestMode } from '../vmx/monitor/choices.js';
import { runGuest, type GuestRun } from '../vmx/monitor/monitor.js';
import { assembleGuest, describeWithNasm } from './support/guests.js';

const noKvm = kvmUnavailable();

/** Guests whose behaviour does not depend on the CPU model (no CPUID values, no TSC readings). */
const GUESTS: [string, GuestMode][] = [
  ['run-real', 'real'],
  ['run-pm32', 'pm32'],
  ['run-long64', 'long64'],
  ['run-halt', 'real'],
  ['real-hello', 'real'],
  ['string-io', 'real'],
  ['real-interrupts', 'real'],
  ['mode-switch', 'real'],
  ['mmio', 'pm32'],
  ['pm32-compute', 'pm32'],
  ['self-modify', 'pm32'],
];

/**
 * Where the emulated core and this machine's KVM part ways. This machine's /dev/kvm is kvm_pvm, a
 * KVM that runs guests without VMX, and the C monitor test/monitors/kvmmon.c sees the same on it,
 * so the monitor is not the cause. Kept as expected failures so that a fix on either side shows up.
 */
const KNOWN: [string, GuestMode, string][] = [
  ['exceptions', 'pm32', 'KVM stops with an emulation failure after the #DE handler; the core prints DUGBS'],
  ['long64-idt', 'long64', 'KVM stops with an emulation failure after the #DE handler'],
  ['paging32', 'pm32', 'KVM triple-faults right after the guest enables paging; the core runs it to exit 0'],
  ['triple-fault', 'pm32', 'at the shutdown KVM reports RFLAGS.RF set, the core clear'],
];

function compare(name: string, mode: GuestMode): void {
  const kvm = run(new HostDriver(), name, mode);
  const emulated = run(new EmulatedKvm(), name, mode);
  expect(emulated.exits).toEqual(kvm.exits);
  expect(emulated.output).toBe(kvm.output);
  expect({ end: emulated.end, exitCode: emulated.exitCode }).toEqual({ end: kvm.end, exitCode: kvm.exitCode });
  expect(emulated.regs).toEqual(kvm.regs);
}

function run(driver: Driver, name: string, mode: GuestMode): GuestRun {
  return runGuest(driver, assembleGuest(name), { mode, maxExits: 10_000 });
}

describeWithNasm(`guests on /dev/kvm and on the emulated core${noKvm ? ` (skipped: ${noKvm})` : ''}`, () => {
  for (const [name, mode] of GUESTS) {
    it.skipIf(noKvm !== undefined)(`${name} (${mode}) exits and ends the same way on both`, () => compare(name, mode));
  }
  for (const [name, mode, why] of KNOWN) {
    (noKvm ? it.skip : it.fails)(`${name} (${mode}) differs: ${why}`, () => compare(name, mode));
  }
});
