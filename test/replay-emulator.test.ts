// A trace recorded on the emulated core replays on it with no divergence, every time, and two
// replays give byte-identical outputs.
import { expect, it } from 'vitest';
import { replayTrace } from '../replayer/engine.js';
import { SchemaRegistry } from '../schemas/registry.js';
import { EmulatedKvm } from '../vmx/kvm/frontend.js';
import { RecordingDriver } from '../recorder/inprocess.js';
import type { IoctlEvent } from '../traces/events.js';
import { assembleGuest, describeWithNasm } from './support/guests.js';
import { readEvents, recordGuest, tempTrace } from './support/replay.js';

const GUESTS = [['run-real', 'real'], ['run-pm32', 'pm32'], ['run-long64', 'long64']] as const;

describeWithNasm('replay on the emulated core of emulator traces', () => {
  for (const [guest, mode] of GUESTS) {
    it(`replays ${guest} (${mode}) with no divergence`, () => {
      const trace = recordGuest(new EmulatedKvm(), assembleGuest(guest), mode);
      const s = replayTrace(trace, SchemaRegistry.default(), new EmulatedKvm(), 'emulator');
      expect(s.divergence).toBeNull();
      expect(s.replayed).toBeGreaterThan(20);
      expect(s.hostDifferences).toBe(0);
    });
  }

  it('gives byte-identical outputs on two replays', () => {
    const trace = recordGuest(new EmulatedKvm(), assembleGuest('run-long64'), 'long64');
    const outputs = [0, 1].map(() => {
      const path = tempTrace();
      const recorder = new RecordingDriver(new EmulatedKvm(), { output: path, command: ['replay'] });
      replayTrace(trace, SchemaRegistry.default(), recorder, 'emulator');
      recorder.finish(0);
      return readEvents(path)
        .filter((e): e is IoctlEvent => e.type === 'ioctl')
        .map((e) => ({ request: e.request, ret: e.ret, errno: e.errno, out: e.regions.map((r) => [r.role, Buffer.from(r.after ?? []).toString('hex')]) }));
    });
    expect(outputs[0].length).toBeGreaterThan(20);
    expect(outputs[1]).toEqual(outputs[0]);
  });
});
