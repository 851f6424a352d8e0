// Asks the real C compiler for request numbers, constants and layouts: every value is an enumerator
// or a type the compiler folded into DWARF, so nothing here computes a layout by hand.

import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Abi } from '../model.js';
import { DwarfTypes, enumerators, parseDies } from './dwarf.js';

export interface Probe {
  /** Identifier used in the generated enumerator. */
  name: string;
  /** A C integer constant expression. */
  expr: string;
}

export interface Measurement {
  values: Map<string, number>;
  /** Every enumerator the headers define (some constants exist only as enum members). */
  enumerators: Map<string, number>;
  types: DwarfTypes;
  /** Probes the compiler rejected (a struct not defined for this target, a non-integer macro). */
  rejected: string[];
}

export interface Target {
  abi: Abi;
  /** Extra compiler flags: -m32, or -nostdinc with another architecture's headers. */
  flags: string[];
  /** The compiler (default gcc): x86_64-w64-mingw32-gcc lays out llp64 (Windows x64). */
  cc?: string;
  /** The command that prints the object's DWARF (default readelf --debug-dump=info; objdump reads PE/COFF). */
  dwarfDump?: string[];
}

const MAX_ROUNDS = 12;

/** Compiles the probes, dropping the ones the compiler rejects, until the rest compile. */
export function measure(target: Target, includes: string[], probes: Probe[], structs: string[]): Measurement {
  const dir = mkdtempSync(join(tmpdir(), 'ioctlgrind-gen-'));
  try {
    let live = [...probes];
    let liveStructs = [...structs];
    const rejected: string[] = [];
    for (let round = 0; round < MAX_ROUNDS; round++) {
      const { source, lineOf } = program(includes, live, liveStructs);
      const src = join(dir, 'probe.c');
      const obj = join(dir, 'probe.o');
      writeFileSync(src, source);
      const cc = spawnSync(target.cc ?? 'gcc', [...target.flags, '-g', '-fno-eliminate-unused-debug-types', '-w', '-c', src, '-o', obj], { encoding: 'utf8' });
      if (cc.status === 0) {
        const [dump, ...dumpArgs] = target.dwarfDump ?? ['readelf', '--debug-dump=info'];
        const text = execFileSync(dump, [...dumpArgs, obj], { encoding: 'utf8', maxBuffer: 256 << 20 });
        const dies = parseDies(text);
        const enums = enumerators(dies);
        const values = new Map<string, number>();
        for (const p of live) {
          const v = enums.get(`ioctlgrind_${p.name}`);
          if (v !== undefined) values.set(p.name, v);
        }
        const aligns = new Map<string, number>();
        for (const st of liveStructs) {
          const a = enums.get(`ioctlgrind_align_${st.replace(/\W/g, '_')}`);
          if (a !== undefined) aligns.set(st, a);
        }
        return { values, enumerators: enums, types: new DwarfTypes(dies, aligns), rejected };
      }
      const badLines = new Set<number>();
      for (const m of cc.stderr.matchAll(/probe\.c:(\d+):\d+: error/g)) badLines.add(Number(m[1]));
      if (badLines.size === 0) throw new Error(`${target.cc ?? 'gcc'} ${target.flags.join(' ')} failed: ${cc.stderr.split('\n').slice(0, 5).join(' | ')}`);
      const badNames = new Set<string>();
      for (const line of badLines) {
        const name = lineOf.get(line);
        if (name === undefined) throw new Error(`gcc rejected a line the generator did not write (${line}): ${cc.stderr.split('\n')[0]}`);
        badNames.add(name);
      }
      live = live.filter((p) => !badNames.has(p.name));
      liveStructs = liveStructs.filter((s) => !badNames.has(`struct:${s}`));
      rejected.push(...badNames);
    }
    throw new Error(`gcc ${target.flags.join(' ')}: too many rounds of rejected probes`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function program(includes: string[], probes: Probe[], structs: string[]): { source: string; lineOf: Map<number, string> } {
  const lines = includes.map((h) => `#include <${h}>`);
  const lineOf = new Map<number, string>();
  // One probe per line so a compiler error names exactly one probe.
  for (const p of probes) {
    lines.push(`enum ioctlgrind_e_${p.name} { ioctlgrind_${p.name} = (${p.expr}) };`);
    lineOf.set(lines.length, p.name);
  }
  for (const s of structs) {
    lines.push(`struct ${s} *ioctlgrind_use_${s.replace(/\W/g, '_')};`);
    lineOf.set(lines.length, `struct:${s}`);
    // _Alignof gives the ABI alignment (4 for a u64 on i386), which DWARF does not record.
    lines.push(`enum { ioctlgrind_align_${s.replace(/\W/g, '_')} = _Alignof(struct ${s}) };`);
    lineOf.set(lines.length, `struct:${s}`);
  }
  return { source: lines.join('\n') + '\n', lineOf };
}

/** Macro names the preprocessor defines after including the headers. */
export function macroNames(target: Target, includes: string[]): Map<string, string> {
  const src = includes.map((h) => `#include <${h}>`).join('\n') + '\n';
  const out = execFileSync(target.cc ?? 'gcc', [...target.flags, '-dM', '-E', '-x', 'c', '-'], { input: src, encoding: 'utf8', maxBuffer: 64 << 20 });
  const macros = new Map<string, string>();
  for (const line of out.split('\n')) {
    const m = /^#define (\w+) (.*)$/.exec(line);
    if (m) macros.set(m[1], m[2]);
  }
  return macros;
}

export function compilerVersion(cc = 'gcc'): string {
  return execFileSync(cc, ['--version'], { encoding: 'utf8' }).split('\n')[0];
}

/** True when `cc` runs (the mingw-w64 cross compiler is optional). */
export function hasCompiler(cc: string): boolean {
  return spawnSync(cc, ['--version'], { encoding: 'utf8' }).status === 0;
}
