// A divergence is reported with its seq, request, object, the differing field with both values,
// and the guest's context; --keep-going lists them all; --until stops and shows the vCPU.
import { expect, it } from 'vitest';
import { replayTrace } from '../replayer/engine.js';
import { SchemaRegistry } from '../schemas/registry.js';
import { fieldLocation } from '../schemas/codec.js';
import type { TraceEvent } from '../traces/events.js';
import { EmulatedKvm } from '../vmx/kvm/frontend.js';
import { assembleGuest, describeWithNasm } from './support/guests.js';
import { editTrace, readEvents, recordGuest } from './support/replay.js';
import { cli } from './support/cli.js';

const set = SchemaRegistry.default().set('kvm-linux');
const portAt = fieldLocation(set, 'lp64', 'kvm_run', 'io.port')!.offset;
const RUN = set.ioctls.find((i) => i.name === 'KVM_RUN')!.numbers.lp64!;

/** The seqs of the KVM_RUNs whose exit was an OUT to the serial port. */
function serialRuns(events: TraceEvent[]): number[] {
  return events.filter((e) => e.type === 'ioctl' && e.request === RUN).filter((e) => {
    const run = e.type === 'ioctl' ? e.regions.find((r) => r.role === 'run')?.after : undefined;
    return run && new DataView(run.buffer, run.byteOffset).getUint16(portAt, true) === 0x3f8;
  }).map((e) => e.seq);
}

/** The trace with the recorded port of the given runs' exits changed to 0x2f8. */
function tamper(path: string, seqs: number[]): string {
  return editTrace(path, (e) => {
    if (e.type !== 'ioctl' || !seqs.includes(e.seq)) return e;
    const regions = e.regions.map((r) => {
      if (r.role !== 'run' || !r.after) return r;
      const after = r.after.slice();
      new DataView(after.buffer).setUint16(portAt, 0x2f8, true);
      return { ...r, after };
    });
    return { ...e, regions };
  });
}

describeWithNasm('replay divergence reports', () => {
  const trace = () => recordGuest(new EmulatedKvm(), assembleGuest('run-real'), 'real');

  it('names the seq, request, object, field, both values and the guest context', () => {
    const path = trace();
    const [first] = serialRuns(readEvents(path));
    const s = replayTrace(tamper(path, [first]), SchemaRegistry.default(), new EmulatedKvm(), 'emulator');
    expect(s.divergence).toMatchObject({ seq: first, name: 'KVM_RUN', object: 'vm0/vcpu0', what: 'run.io.port', recorded: '0x2f8', replayed: '0x3f8' });
    expect(s.divergence!.guest).toMatchObject({ vcpu: 'vm0/vcpu0', mode: 'real' });
    expect(s.divergence!.guest!.rip).toMatch(/^0x10/);
    expect(s.divergence!.guest!.instruction).toBeTruthy();
  });

  it('lists every divergence with --keep-going', () => {
    const path = trace();
    const runs = serialRuns(readEvents(path)).slice(0, 3);
    const s = replayTrace(tamper(path, runs), SchemaRegistry.default(), new EmulatedKvm(), 'emulator', { keepGoing: true });
    expect(s.divergences!.map((d) => d.seq)).toEqual(runs);
  });

  it('stops at --until with the vCPU state', () => {
    const path = trace();
    const [first] = serialRuns(readEvents(path));
    const s = replayTrace(path, SchemaRegistry.default(), new EmulatedKvm(), 'emulator', { until: first + 1 });
    expect(s.stoppedAt).toMatchObject({ seq: first + 1, state: { vcpu: 'vm0/vcpu0', mode: 'real' } });
  });

  it('prints the contract\'s JSON and exits 1 on a divergence', () => {
    const path = trace();
    const edited = tamper(path, serialRuns(readEvents(path)).slice(0, 1));
    const r = cli(['replay', edited, '--json']);
    expect(r.status).toBe(1);
    const s = JSON.parse(r.stdout);
    expect(Object.keys(s)).toEqual(expect.arrayContaining(['events', 'replayed', 'divergence']));
    expect(Object.keys(s.divergence)).toEqual(expect.arrayContaining(['seq', 'name', 'what', 'recorded', 'replayed']));
    const clean = cli(['replay', path, '--json']);
    expect(clean.status).toBe(0);
    expect(JSON.parse(clean.stdout).divergence).toBeNull();
  });
});
