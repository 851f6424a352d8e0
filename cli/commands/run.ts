import { readFileSync } from 'node:fs';
import type { CommandModule } from 'yargs';
import { BACKENDS, GUEST_MODES, type Backend, type GuestMode } from '../../vmx/monitor/choices.js';
import { UserError } from '../user-error.js';

export const runCommand: CommandModule<object, { guest: string; mode: GuestMode; on: Backend; output?: string }> = {
  command: 'run <guest>',
  describe: 'run a raw guest binary with the bundled monitor (docs/run.md); prints its console output and exits with its exit code',
  builder: (y) =>
    y
      .positional('guest', { type: 'string', demandOption: true, describe: 'flat binary, loaded and entered at 0x1000' })
      .option('mode', { choices: GUEST_MODES, default: 'real' as GuestMode, describe: 'the CPU mode the guest starts in' })
      .option('on', { choices: BACKENDS, default: 'emulator' as Backend, describe: 'the emulated core, or the real /dev/kvm' })
      .option('output', { alias: 'o', type: 'string', describe: 'record the run in-process into this trace' }) as never,
  handler: async (argv) => {
    let image: Uint8Array;
    try {
      image = new Uint8Array(readFileSync(argv.guest));
    } catch (e) {
      throw new UserError(`cannot read the guest ${argv.guest}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    const [{ runSession }, { HostUnavailable }] = await Promise.all([import('../../vmx/monitor/session.js'), import('../../vmx/host/driver.js')]);
    try {
      const result = runSession({
        image,
        mode: argv.mode,
        on: argv.on,
        ...(argv.output ? { output: argv.output } : {}),
        command: ['ioctlgrind', 'run', argv.guest, '--mode', argv.mode, '--on', argv.on],
        onOutput: (text) => process.stdout.write(Buffer.from(text, 'latin1')),
      });
      if (result.message) process.stderr.write(`ioctlgrind: ${result.message}\n`);
      process.exitCode = result.status;
    } catch (e) {
      if (e instanceof HostUnavailable) throw new UserError(e.message);
      throw e;
    }
  },
};
