// Traces recorded on the real /dev/kvm replay on the emulated core with no divergence, in every
// guest mode; and on /dev/kvm itself.
import { expect, it } from 'vitest';
import { replayTrace } from '../replayer/engine.js';
import { SchemaRegistry } from '../schemas/registry.js';
import { HostDriver, kvmUnavailable } from '../vmx/host/driver.js';
import { EmulatedKvm } from '../vmx/kvm/frontend.js';
import { assembleGuest, describeWithNasm } from './support/guests.js';
import { recordGuest } from './support/replay.js';

const noKvm = kvmUnavailable();
const GUESTS = [['run-real', 'real'], ['run-pm32', 'pm32'], ['run-long64', 'long64']] as const;

describeWithNasm('replay of traces recorded on /dev/kvm', () => {
  for (const [guest, mode] of GUESTS) {
    it.skipIf(noKvm !== undefined)(`replays ${guest} (${mode}) on the emulated core with no divergence${noKvm ? ` (skipped: ${noKvm})` : ''}`, () => {
      const trace = recordGuest(new HostDriver(), assembleGuest(guest), mode);
      const s = replayTrace(trace, SchemaRegistry.default(), new EmulatedKvm(), 'emulator');
      expect(s.divergence).toBeNull();
      // The emulated core supports fewer CPUID leaves than the host: a difference, not a divergence.
      expect(s.firstHostDifference?.name).toBe('KVM_GET_SUPPORTED_CPUID');
    });
  }

  it.skipIf(noKvm !== undefined)(`replays on /dev/kvm itself${noKvm ? ` (skipped: ${noKvm})` : ''}`, () => {
    const trace = recordGuest(new HostDriver(), assembleGuest('run-pm32'), 'pm32');
    const s = replayTrace(trace, SchemaRegistry.default(), new HostDriver(), 'kvm');
    expect(s.divergence).toBeNull();
    // Host answers may still differ between two runs on one host (a count of online CPUs, say).
    expect(s.hostDifferences).toBeLessThanOrEqual(1);
  });
});
