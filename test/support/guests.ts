/**
 * Test guests: assemble test/guests/NAME.asm with nasm (flat binary) into a temp directory keyed
 * by the source's hash, and hand back the bytes. Suites use `describeWithNasm` so they skip with
 * a clear message where nasm is missing.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe } from 'vitest';
import { Machine, runConventionGuest, setupConventionGuest, Vcpu, type ConventionRunOptions, type ConventionRunResult, type GuestMode } from '../../vmx/index.js';

const GUEST_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', 'guests');
const CACHE_DIR = join(tmpdir(), 'ioctlgrind-guests');

function findNasm(): string | undefined {
  try {
    execFileSync('nasm', ['-v'], { stdio: 'ignore' });
    return 'nasm';
  } catch {
    return undefined;
  }
}

export const nasm = findNasm();

/** `describe`, or `describe.skip` with the reason in its title when nasm is not installed. */
export function describeWithNasm(title: string, fn: () => void): void {
  if (nasm === undefined) describe.skip(`${title} (skipped: nasm is not installed; apt-get install nasm)`, fn);
  else describe(title, fn);
}

/** Assemble NASM `source` text into a flat binary, cached by the text's hash. */
export function assembleSource(source: string): Uint8Array {
  if (nasm === undefined) throw new Error('nasm is not installed');
  const hash = createHash('sha256').update(source).digest('hex').slice(0, 16);
  mkdirSync(CACHE_DIR, { recursive: true });
  const out = join(CACHE_DIR, `${hash}.bin`);
  if (!existsSync(out)) {
    const src = join(CACHE_DIR, `${hash}.asm`);
    writeFileSync(src, source);
    execFileSync(nasm, ['-f', 'bin', '-o', out, src], { stdio: 'pipe' });
  }
  return new Uint8Array(readFileSync(out));
}

/** Assemble guest `name` (test/guests/name.asm) and return the flat binary. */
export function assembleGuest(name: string): Uint8Array {
  return assembleSource(readFileSync(join(GUEST_DIR, `${name}.asm`), 'utf8'));
}

export interface BootedGuest {
  machine: Machine;
  vcpu: Vcpu;
  ram: Uint8Array;
}

/** A fresh machine with guest `name` set up under the convention in `mode`. */
export function bootGuest(name: string, mode: GuestMode): BootedGuest {
  const machine = new Machine();
  const vcpu = new Vcpu(machine);
  const { ram } = setupConventionGuest(machine, vcpu, assembleGuest(name), mode);
  return { machine, vcpu, ram };
}

/** Boot and run guest `name` to its end with the convention's monitor. */
export function runGuest(name: string, mode: GuestMode, options: ConventionRunOptions = { maxInstructions: 10_000_000 }): ConventionRunResult & BootedGuest {
  const booted = bootGuest(name, mode);
  return { ...runConventionGuest(booted.vcpu, options), ...booted };
}

/**
 * A long64 (or other mode) machine for running raw instruction bytes: `load(bytes)` places code
 * followed by HLT at 0x1000 (telling the core the bytes changed), `run(regs)` sets the given
 * registers (others zero, RFLAGS from `rflags`) and runs to the HLT.
 */
export class CodeRunner {
  readonly machine = new Machine();
  readonly vcpu = new Vcpu(this.machine);

  constructor(readonly mode: GuestMode = 'long64') {
    setupConventionGuest(this.machine, this.vcpu, new Uint8Array([0xf4]), mode);
  }

  /** Run NASM source (assembled at org 0x1000 in the runner's code size). */
  runAsm(source: string, regs: Partial<Record<string, bigint>> = {}): ReturnType<Vcpu['getRegs']> {
    const bits = this.mode === 'long64' ? 64 : this.mode === 'pm32' ? 32 : 16;
    return this.run([...assembleSource(`bits ${bits}\norg 0x1000\n${source}\n`)], regs);
  }

  run(code: number[], regs: Partial<Record<string, bigint>> = {}): ReturnType<Vcpu['getRegs']> {
    this.machine.memory.write(0x1000, new Uint8Array([...code, 0xf4]));
    const r = this.vcpu.getRegs();
    for (const k of Object.keys(r) as (keyof typeof r)[]) r[k] = regs[k] ?? 0n;
    r.rip = 0x1000n;
    r.rsp = regs.rsp ?? 0x8000n;
    r.rflags = (regs.rflags ?? 0n) | 2n;
    this.vcpu.setRegs(r);
    const exit = this.vcpu.run({ maxInstructions: 1000 });
    if (exit.reason !== 12) throw new Error(`expected HLT, got ${JSON.stringify(exit, (_, v) => (typeof v === 'bigint' ? v.toString() : v))}`);
    return this.vcpu.getRegs();
  }
}
