import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CommandModule } from 'yargs';
import type { Target } from '../../replayer/targets.js';
import { dataPath } from '../../schemas/paths.js';

/** The sample guest, assembled and committed beside its source. */
const GUEST = dataPath('monitor/guests/demo.bin', 'vmx');

export const demoCommand: CommandModule<object, { output?: string; on?: Target }> = {
  command: 'demo',
  describe: 'the whole loop on the bundled sample: record, check, replay',
  builder: (y) =>
    y
      .option('output', { alias: 'o', type: 'string', describe: 'where to keep the trace (default: a temporary folder)' })
      .option('on', { choices: ['kvm', 'emulator'] as Target[], describe: 'record on /dev/kvm (the default where it works) or the emulated core' }) as never,
  handler: async (argv) => {
    const [{ checkTrace, counts }, { RecordingDriver }, { replayTrace }, { makeDriver }, { SchemaRegistry }, { kvmUnavailable }, { runGuest }] = await Promise.all([
      import('../../checker/check.js'), import('../../recorder/inprocess.js'), import('../../replayer/engine.js'), import('../../replayer/targets.js'),
      import('../../schemas/registry.js'), import('../../vmx/host/driver.js'), import('../../vmx/monitor/monitor.js'),
    ]);
    const why = kvmUnavailable();
    const on: Target = argv.on ?? (why ? 'emulator' : 'kvm');
    const trace = argv.output ?? join(mkdtempSync(join(tmpdir(), 'ioctlgrind-demo-')), 'demo.trace');
    const out = (s: string) => process.stdout.write(s + '\n');
    out(`ioctlgrind demo: record, check and replay the bundled monitor running ${GUEST}`);
    if (on === 'emulator' && why && !argv.on) out(`   (/dev/kvm is not usable here: ${why}; recording on the emulated core instead)`);

    const recorder = new RecordingDriver(makeDriver(on), { output: trace, command: ['ioctlgrind', 'demo', `--on=${on}`] });
    const run = runGuest(recorder, new Uint8Array(readFileSync(GUEST)), { mode: 'real' });
    recorder.finish(run.exitCode ?? 0);
    out(`1. record  on ${on === 'kvm' ? '/dev/kvm' : 'the emulated core'}: the guest wrote ${JSON.stringify(run.output)} and ended by ${run.end}${run.exitCode !== undefined ? ` with code ${run.exitCode}` : ''} after ${run.exitCount} exits`);
    out(`           trace: ${trace}`);

    const registry = SchemaRegistry.default();
    const checked = checkTrace(trace, registry);
    const n = counts(checked);
    const notes = checked.contexts.filter((c) => c.first.severity === 'note');
    out(`2. check   ${checked.events} events: ${n.errors} errors from ${n.contexts} contexts${notes.length ? `; ${notes.length} interface notes, e.g. "${notes[0].first.message}"` : ''}`);

    const replayed = replayTrace(trace, registry, makeDriver('emulator'), 'emulator');
    const d = replayed.divergence;
    out(`3. replay  on the emulated core: ${replayed.replayed} of ${replayed.events} events re-driven, ${d ? `first divergence at seq ${d.seq}: ${d.name} ${d.what} recorded ${d.recorded}, replayed ${d.replayed}` : 'no divergence'}${replayed.hostDifferences ? ` (${replayed.hostDifferences} answers about the host differ, as expected on another driver)` : ''}`);
    out('');
    out(`Next: ioctlgrind dump ${trace}   |   ioctlgrind check ${trace} --json   |   ioctlgrind replay ${trace} --against kvm`);
    if (d || n.errors > 0) process.exitCode = 1;
  },
};
