// The rule tables record used last, kept beside the shim (build/rules/) so that the next recording
// can start its target before it loads the schemas (about 35 ms with the tables built). The copy is
// checked against freshly built tables once the schemas are loaded, while the target runs: a table
// that changed (new schemas, a new ioctlgrind) is replaced, and the recording that used the old one
// says so in a note (and record warns). Where build/rules is not writable every recording builds its
// tables first.

import { accessSync, constants, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Abi } from '../schemas/model.js';
import { packageRoot } from '../schemas/paths.js';

export type RuleTables = Record<Extract<Abi, 'lp64' | 'ilp32'>, Buffer>;
export const SHIM_ABIS: (keyof RuleTables)[] = ['lp64', 'ilp32'];

/** Where record keeps them unless told otherwise: $IOCTLGRIND_RULE_CACHE, else build/rules. */
export const defaultRuleCache = () => process.env.IOCTLGRIND_RULE_CACHE || join(packageRoot(), 'build', 'rules');

/**
 * The tables kept for this set, or undefined when there are none (or not for every ABI), or when
 * the folder is not writable: tables that could not be replaced once found stale are not used.
 */
export function keptRuleTables(folder: string, setId: string): RuleTables | undefined {
  try {
    accessSync(folder, constants.W_OK);
    return { lp64: readFileSync(join(folder, `${setId}.lp64`)), ilp32: readFileSync(join(folder, `${setId}.ilp32`)) };
  } catch {
    return undefined;
  }
}

let asides = 0;

/** Keeps the tables for the next recording; false when the folder is not writable. */
export function keepRuleTables(folder: string, setId: string, tables: RuleTables): boolean {
  try {
    mkdirSync(folder, { recursive: true });
  } catch {
    return false;
  }
  for (const abi of SHIM_ABIS) {
    // Written aside and renamed: a recording starting meanwhile reads the old table or the new one.
    const path = join(folder, `${setId}.${abi}`);
    const aside = `${path}.${process.pid}.${++asides}`;
    try {
      writeFileSync(aside, tables[abi]);
      renameSync(aside, path);
    } catch {
      rmSync(aside, { force: true });
      return false;
    }
  }
  return true;
}

export function sameRuleTables(a: RuleTables, b: RuleTables): boolean {
  return SHIM_ABIS.every((abi) => a[abi].equals(b[abi]));
}
