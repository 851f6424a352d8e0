// A divergence that comes from something the trace cannot pin is reported with that source.
import { expect, it } from 'vitest';
import { replayTrace } from '../replayer/engine.js';
import { SchemaRegistry } from '../schemas/registry.js';
import { EmulatedKvm } from '../vmx/kvm/frontend.js';
import { assembleGuest, describeWithNasm } from './support/guests.js';
import { editTrace, readEvents, recordGuest } from './support/replay.js';

const SET_CPUID2 = SchemaRegistry.default().set('kvm-linux').ioctls.find((i) => i.name === 'KVM_SET_CPUID2')!.numbers.lp64!;

describeWithNasm('replay sources', () => {
  it('names host CPUID when the monitor never set the vCPU\'s table', () => {
    const recorded = recordGuest(new EmulatedKvm(), assembleGuest('cpuid'), 'pm32');
    // The same session as a monitor that never called KVM_SET_CPUID2: the guest's CPUID answers
    // were then the host's, which the replay cannot know.
    const withoutCpuid = editTrace(recorded, (e) => (e.type === 'ioctl' && e.request === SET_CPUID2 ? { type: 'note', seq: e.seq, pid: e.pid, tid: e.tid, message: 'KVM_SET_CPUID2 left out' } : e));
    expect(readEvents(withoutCpuid).some((e) => e.type === 'ioctl' && e.request === SET_CPUID2)).toBe(false);
    const s = replayTrace(withoutCpuid, SchemaRegistry.default(), new EmulatedKvm(), 'emulator');
    expect(s.divergence).toMatchObject({ name: 'KVM_RUN', object: 'vm0/vcpu0' });
    expect(s.divergence!.source).toMatch(/^host CPUID: the monitor never gave this vCPU a CPUID table \(KVM_SET_CPUID2\)/);
  });
});
