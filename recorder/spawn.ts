// Starts the target with the shim preloaded (through ld.so's $LIB, so each program of the process
// tree gets the shim of its ELF class), passes its stdio through and waits; the caller gets the
// target's exit status or signal.

import { spawn } from 'node:child_process';
import { accessSync, closeSync, constants as fsConstants, existsSync, openSync, readFileSync, readSync, statSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { delimiter, join, resolve } from 'node:path';
import type { Abi } from '../schemas/model.js';
import { packageRoot } from '../schemas/paths.js';

/** A problem with what the user asked for, reported in one line; 127 when the command is missing. */
export class RecordError extends Error {
  constructor(message: string, readonly exitCode = 1) {
    super(message);
  }
}

export interface TargetExit {
  pid: number;
  /** The exit code, or 128 + the signal number when a signal killed the target. */
  status: number;
  signal?: number;
}

export interface SpawnOptions {
  command: string[];
  abi: Abi;
  /** Directory the shim writes its raw logs and sequence counter into. */
  rawDir: string;
  /** Rule table path prefix; the shim appends `.lp64` or `.ilp32`. */
  rules: string;
  memcheck: boolean;
}

/** The executable `cmd` names, looked up in PATH like execvp does. */
export function resolveCommand(cmd: string): string {
  const candidates = cmd.includes('/') ? [resolve(cmd)] : (process.env.PATH ?? '').split(delimiter).filter(Boolean).map((d) => join(d, cmd));
  for (const path of candidates) {
    try {
      accessSync(path, fsConstants.X_OK);
      if (statSync(path).isFile()) return path;
    } catch {
      // not this one
    }
  }
  throw new RecordError(`command not found: ${cmd}`, 127);
}

/** The data model of an ELF executable; scripts and unknown files count as the host's (lp64). */
export function elfAbi(path: string): Abi {
  const fd = openSync(path, 'r');
  try {
    const head = Buffer.alloc(5);
    readSync(fd, head, 0, 5, 0);
    const elf = head.subarray(0, 4).equals(Buffer.from([0x7f, 0x45, 0x4c, 0x46]));
    return elf && head[4] === 1 ? 'ilp32' : 'lp64';
  } finally {
    closeSync(fd);
  }
}

const arch = (abi: Abi) => (abi === 'ilp32' ? 'i386' : 'x86_64');

export function shimPath(abi: Abi): string {
  const path = join(packageRoot(), 'build', arch(abi), 'libioctlgrind.so');
  if (!existsSync(path)) {
    throw new RecordError(`the ${abi === 'ilp32' ? '32-bit' : '64-bit'} shim is not built (${path}); run npm install`);
  }
  return path;
}

/**
 * What to put in LD_PRELOAD for a target of `abi`: build/$LIB/libioctlgrind.so where the build
 * found ld.so's `$LIB` expansion for that class, so that every program the target runs, of either
 * class, loads the shim of its own class; else the shim of the target's class.
 */
export function preloadPath(abi: Abi): string {
  const concrete = shimPath(abi);
  try {
    const { lib } = JSON.parse(readFileSync(join(packageRoot(), 'build', 'shim.json'), 'utf8')) as { lib: Record<string, string> };
    return lib[arch(abi)] ? join(packageRoot(), 'build', '$LIB', 'libioctlgrind.so') : concrete;
  } catch {
    return concrete;
  }
}

/** Fails with one line when /dev/kvm cannot be opened read-write. */
export function requireKvm(): void {
  try {
    closeSync(openSync('/dev/kvm', 'r+'));
  } catch (e) {
    throw new RecordError(`/dev/kvm is not usable: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

/** Starts the target; `exit` settles when it ends (rejects, with one line, when it cannot start). */
export function runTarget(options: SpawnOptions): { pid: number; exit: Promise<TargetExit> } {
  const exe = resolveCommand(options.command[0]);
  const preload = [preloadPath(options.abi), process.env.LD_PRELOAD].filter(Boolean).join(':');
  const valgrind = options.memcheck ? [resolveCommand('valgrind'), '--tool=memcheck'] : [];
  const argv = [...valgrind, exe, ...options.command.slice(1)];
  const env = { ...process.env, LD_PRELOAD: preload, IOCTLGRIND_DIR: options.rawDir, IOCTLGRIND_RULES: options.rules };
  // argv[0] as the user wrote it, as a shell would pass it.
  const child = spawn(argv[0], argv.slice(1), { stdio: 'inherit', env, argv0: options.memcheck ? 'valgrind' : options.command[0] });
  const exit = new Promise<TargetExit>((done, fail) => {
    // The terminal's ^C reaches the target too; the recorder stays to write the trace.
    const ignore = () => {};
    const forward = (sig: NodeJS.Signals) => child.kill(sig);
    process.on('SIGINT', ignore);
    process.on('SIGTERM', forward);
    const cleanup = () => {
      process.off('SIGINT', ignore);
      process.off('SIGTERM', forward);
    };
    child.once('error', (e) => {
      cleanup();
      fail(new RecordError(`cannot start ${options.command[0]}: ${e.message}`));
    });
    child.once('exit', (code, signal) => {
      cleanup();
      const signo = signal ? osConstants.signals[signal] : undefined;
      done({ pid: child.pid ?? 0, status: signo !== undefined ? 128 + signo : (code ?? 0), ...(signo !== undefined ? { signal: signo } : {}) });
    });
  });
  return { pid: child.pid ?? 0, exit };
}
