// A HAXM session recorded in-process on the emulated core: the trace names the objects by path
// (vm0, vm0/vcpu0), carries the tunnel and I/O buffer of every RUN and the guest RAM, the checker
// reads it without crashing, and it replays on a fresh HAXM front-end with no divergence, page
// faults from PROTECT_RAM included.
import { describe, expect, it } from 'vitest';
import { checkTrace } from '../checker/check.js';
import { RecordingDriver } from '../recorder/inprocess.js';
import { replayTrace } from '../replayer/engine.js';
import { SchemaRegistry } from '../schemas/registry.js';
import type { IoctlEvent, MemoryEvent } from '../traces/events.js';
import { EmulatedHaxm } from '../vmx/haxm/frontend.js';
import { runHaxmGuest, type HaxmGuestOptions } from '../vmx/monitor/haxm-monitor.js';
import type { GuestMode } from '../vmx/monitor/choices.js';
import { assembleGuest, describeWithNasm } from './support/guests.js';
import { editTrace, readEvents, tempTrace } from './support/replay.js';
import { cli } from './support/cli.js';

function record(guest: string, mode: GuestMode, options: Partial<HaxmGuestOptions> = {}): { trace: string; exitCode: number | undefined; output: string } {
  const trace = tempTrace();
  const recorder = new RecordingDriver(new EmulatedHaxm(), { output: trace, command: ['haxm-monitor', guest], schemaSet: 'haxm-linux' });
  const run = runHaxmGuest(recorder, assembleGuest(guest), { mode, ...options });
  recorder.finish(run.exitCode ?? 0);
  return { trace, exitCode: run.exitCode, output: run.output };
}

const ioctls = (trace: string) => readEvents(trace).filter((e): e is IoctlEvent => e.type === 'ioctl');

describeWithNasm('recording, checking and replaying a HAXM session', () => {
  it('records the objects by path, the tunnel of every RUN and the guest RAM, with exact access bitmaps', () => {
    const { trace } = record('run-real', 'real');
    const events = readEvents(trace);
    const registry = SchemaRegistry.default();
    const set = registry.set('haxm-linux');
    const run = set.ioctls.find((i) => i.name === 'HAX_VCPU_IOCTL_RUN')!.numbers.lp64;
    const runs = ioctls(trace).filter((e) => e.request === run);
    expect(runs.length).toBeGreaterThan(10);
    for (const r of runs) expect(r.regions.find((x) => x.role === 'run')?.length).toBe(56);
    // The OUTs' data is in the I/O buffer region, written by the driver (the exact access bitmaps say so).
    const written = runs.flatMap((r) => r.regions).filter((x) => x.role === 'run.io' && (x.written?.[0] ?? 0) & 1);
    expect(written.length).toBeGreaterThan(5);
    const opens = events.filter((e) => e.type === 'open').map((e) => (e.type === 'open' ? e.path : ''));
    expect(opens).toEqual(['/dev/HAX', '/dev/hax_vm/vm00', '/dev/hax_vm00/vcpu00']);
    const registered = events.filter((e): e is MemoryEvent => e.type === 'memory' && e.why === 'register');
    expect(registered.length).toBeGreaterThan(0);
    // Every byte the driver touched lies in a region the recorder planned (no "outside every region" notes).
    expect(events.filter((e) => e.type === 'note')).toEqual([]);
  });

  it('checks the trace without crashing', () => {
    const { trace } = record('run-pm32', 'pm32');
    const result = checkTrace(trace, SchemaRegistry.default());
    expect(result.events).toBeGreaterThan(20);
    // What the checker says about a clean session (docs/haxm.md): notes on the _IOWR requests the
    // driver only reads or only writes, which are true of HAXM; no warnings, no errors.
    const findings = result.contexts.map((c) => `${c.first.rule} ${c.first.severity} ${c.first.name}`).sort();
    expect(findings).toEqual([
      'direction note HAX_IOCTL_CREATE_VM',
      'direction note HAX_IOCTL_VERSION',
      'direction note HAX_VCPU_GET_REGS',
      'direction note HAX_VCPU_IOCTL_SETUP_TUNNEL',
      'direction note HAX_VCPU_SET_REGS',
      'direction note HAX_VM_IOCTL_SET_RAM',
      'direction note HAX_VM_IOCTL_VCPU_CREATE',
    ]);
  });

  for (const [guest, mode] of [['run-real', 'real'], ['run-pm32', 'pm32'], ['run-halt', 'real']] as const) {
    it(`replays ${guest} (${mode}) on a fresh HAXM front-end with no divergence`, () => {
      const { trace } = record(guest, mode);
      const s = replayTrace(trace, SchemaRegistry.default(), new EmulatedHaxm(), 'emulator');
      expect(s.divergence).toBeNull();
      expect(s.replayed).toBeGreaterThan(20);
      expect(s.skipped).toEqual({});
    });
  }

  it('replays the page faults of on-demand pages (PROTECT_RAM) with no divergence', () => {
    const { trace, output } = record('run-real', 'real', { lazy: { gpa: 0, size: 0x10000 } });
    expect(output).toBe('real mode ok\n');
    const set = SchemaRegistry.default().set('haxm-linux');
    const protect = set.ioctls.find((i) => i.name === 'HAX_VM_IOCTL_PROTECT_RAM')!.numbers.lp64;
    expect(ioctls(trace).filter((e) => e.request === protect)).toHaveLength(2);
    const s = replayTrace(trace, SchemaRegistry.default(), new EmulatedHaxm(), 'emulator');
    expect(s.divergence).toBeNull();
  });

  it('reports a divergence when the replay driver exits otherwise (one instruction per RUN)', () => {
    const { trace } = record('run-real', 'real');
    const s = replayTrace(trace, SchemaRegistry.default(), new EmulatedHaxm({ maxInstructionsPerRun: 1 }), 'emulator');
    expect(s.divergence).toMatchObject({ name: 'HAX_VCPU_IOCTL_RUN', what: 'run._exit_status' });
  });

  it('compares the OUT data the driver left in the I/O buffer', () => {
    const { trace } = record('run-real', 'real');
    // The recording claims the guest printed 'R' where it printed 'r'.
    let done = false;
    const edited = editTrace(trace, (e) => {
      const io = e.type === 'ioctl' && !done ? e.regions.find((r) => r.role === 'run.io' && r.after?.[0] === 0x72) : undefined;
      if (io?.after) {
        io.after = Uint8Array.of(0x52, ...io.after.subarray(1));
        done = true;
      }
      return e;
    });
    const s = replayTrace(edited, SchemaRegistry.default(), new EmulatedHaxm(), 'emulator');
    expect(s.divergence).toMatchObject({ name: 'HAX_VCPU_IOCTL_RUN', recorded: expect.stringContaining('52'), replayed: expect.stringContaining('72') });
  });
});

describeWithNasm('ioctlgrind replay of a HAXM trace', () => {
  it('picks the HAXM front-end from the trace and finds no divergence', () => {
    const { trace } = record('run-real', 'real');
    const r = cli(['replay', trace, '--json']);
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ divergence: null, against: 'emulator' });
  });

  it('refuses /dev/kvm for it in one line', () => {
    const { trace } = record('run-real', 'real');
    const r = cli(['replay', trace, '--against', 'kvm']);
    expect(r.status).toBe(1);
    expect(r.stderr.trim()).toBe('ioctlgrind: a haxm trace cannot be replayed on /dev/kvm: replay it on the emulated core (--against emulator)');
  });
});
