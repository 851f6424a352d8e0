// One `ioctlgrind run`: pick the back-end, optionally record in-process, run the guest with the
// bundled monitor, and say how it ended as an exit status and a one-line message.

import { RecordingDriver } from '../../recorder/inprocess.js';
import type { Driver } from '../driver.js';
import { HostDriver } from '../host/driver.js';
import { EmulatedKvm } from '../kvm/frontend.js';
import type { Backend, GuestMode } from './choices.js';
import { runGuest, type GuestRun } from './monitor.js';

export interface SessionOptions {
  image: Uint8Array;
  mode: GuestMode;
  on: Backend;
  /** Record the run into this trace. */
  output?: string;
  /** The command line for the trace header. */
  command: string[];
  onOutput?: (text: string) => void;
}

export interface SessionResult {
  run: GuestRun;
  /** The process exit status: the guest's exit code; 0 after HLT; 1 when the guest failed. */
  status: number;
  /** How the run ended, when not through the exit port. */
  message?: string;
}

/** A driver for `on`; throws HostUnavailable (one line naming /dev/kvm and the errno) for kvm. */
export function openDriver(on: Backend): Driver {
  return on === 'kvm' ? new HostDriver() : new EmulatedKvm();
}

export function runSession(options: SessionOptions): SessionResult {
  const driver = openDriver(options.on);
  const recorder = options.output ? new RecordingDriver(driver, { output: options.output, command: options.command }) : undefined;
  let status = 1;
  try {
    const run = runGuest(recorder ?? driver, options.image, { mode: options.mode, ...(options.onOutput ? { onOutput: options.onOutput } : {}) });
    const rip = `rip=0x${(run.regs.rip as bigint).toString(16)}`;
    switch (run.end) {
      case 'exit-port':
        status = run.exitCode ?? 0;
        return { run, status };
      case 'hlt':
        status = 0;
        return { run, status, message: `the guest halted at ${rip} (HLT ends the run)` };
      default:
        return { run, status, message: `the guest stopped (${run.end}) at ${rip}: ${run.detail ?? ''}`.trim() };
    }
  } finally {
    recorder?.finish(status);
  }
}
