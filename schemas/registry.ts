// Loads the committed schema sets and answers "what can this request number mean on this object".

import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { delimiter } from 'node:path';
import type { Abi, IoctlSchema, Layout, SchemaSet, Subtable, SubtableEntry } from './model.js';
import { validateSet } from './validate.js';
import { dataPath } from './paths.js';
import { iocDecode } from './ioc.js';

export interface Candidate {
  set: SchemaSet;
  ioctl: IoctlSchema;
  abi: Abi;
}

export class SchemaError extends Error {}

export function loadSchemaSets(dir = dataPath('data')): SchemaSet[] {
  const files = readdirSync(dir).filter((f) => f.endsWith('.json')).sort();
  return files.map((f) => {
    const path = `${dir}/${f}`;
    let parsed: unknown;
    try {
      parsed = JSON.parse(readFileSync(path, 'utf8'));
    } catch (e) {
      throw new SchemaError(`${path}: not JSON: ${(e as Error).message}`);
    }
    return validateSet(parsed, path);
  });
}

/**
 * Schema sets from folders or single .json files (a user's own sets, written by `schemas import`).
 * A missing path is an error: a typo in IOCTLGRIND_SCHEMAS must not silently drop a set.
 */
export function loadSchemaPaths(paths: string[]): SchemaSet[] {
  const out: SchemaSet[] = [];
  for (const path of paths) {
    let isDir: boolean;
    try {
      isDir = statSync(path).isDirectory();
    } catch {
      throw new SchemaError(`${path}: no such schema folder or file`);
    }
    if (isDir) out.push(...loadSchemaSets(path));
    else {
      let parsed: unknown;
      try {
        parsed = JSON.parse(readFileSync(path, 'utf8'));
      } catch (e) {
        throw new SchemaError(`${path}: not JSON: ${(e as Error).message}`);
      }
      out.push(validateSet(parsed, path));
    }
  }
  return out;
}

/** The folders and files named by IOCTLGRIND_SCHEMAS (separated like PATH), added to the built-in sets. */
export function extraSchemaPaths(env: NodeJS.ProcessEnv = process.env): string[] {
  return (env.IOCTLGRIND_SCHEMAS ?? '').split(delimiter).filter((p) => p !== '');
}

const ORIGIN_RANK: Record<string, number> = { driver: 0, import: 1, monitor: 2, proposal: 3, history: 4 };

/**
 * The order sets are consulted in when several define a number, a name or a device path: drivers
 * before monitors' copies, proposals and history; Linux before other systems (the recorder runs on
 * Linux); otherwise by id.
 */
function rank(set: SchemaSet): number {
  const origin = ORIGIN_RANK[set.origin ?? 'driver'] ?? 5;
  const linux = !set.os || set.os.includes('Linux') ? 0 : 1;
  return origin * 2 + linux;
}

let defaultRegistry: SchemaRegistry | undefined;
let defaultExtra: string[] | undefined;

export class SchemaRegistry {
  private readonly byNumber = new Map<number, Candidate[]>();
  private readonly byName = new Map<string, Candidate>();
  private readonly byId = new Map<string, SchemaSet>();
  private readonly setOfIoctl = new Map<IoctlSchema, SchemaSet>();

  readonly sets: SchemaSet[];

  constructor(sets: SchemaSet[]) {
    this.sets = sets.map((set, i) => ({ set, i })).sort((a, b) => rank(a.set) - rank(b.set) || a.i - b.i).map((x) => x.set);
    for (const set of this.sets) {
      if (this.byId.has(set.id)) throw new SchemaError(`two schema sets have the id ${set.id}: rename one (schemas import --id)`);
      this.byId.set(set.id, set);
      for (const ioctl of set.ioctls) {
        this.setOfIoctl.set(ioctl, set);
        for (const abi of set.abis) {
          const n = ioctl.numbers[abi];
          if (n === undefined) continue;
          const list = this.byNumber.get(n) ?? [];
          list.push({ set, ioctl, abi });
          this.byNumber.set(n, list);
        }
        if (!this.byName.has(ioctl.name)) this.byName.set(ioctl.name, { set, ioctl, abi: set.abis[0] });
      }
    }
  }

  /** The sets under schemas/data and those IOCTLGRIND_SCHEMAS (or `useExtraSchemas`) adds, loaded once. */
  static default(): SchemaRegistry {
    defaultRegistry ??= new SchemaRegistry([...loadSchemaSets(), ...loadSchemaPaths(defaultExtra ?? extraSchemaPaths())]);
    return defaultRegistry;
  }

  /** Adds folders or files of sets to the default registry (the CLI's --schemas); before first use. */
  static useExtraSchemas(paths: string[]): void {
    defaultExtra = [...extraSchemaPaths(), ...paths];
    defaultRegistry = undefined;
  }

  /** The set an ioctl schema belongs to. */
  setOf(ioctl: IoctlSchema): SchemaSet | undefined {
    return this.setOfIoctl.get(ioctl);
  }

  set(id: string): SchemaSet {
    const s = this.byId.get(id);
    if (!s) throw new SchemaError(`no schema set named ${id} (have: ${[...this.byId.keys()].join(', ')})`);
    return s;
  }

  /** Every entry, in any set and ABI, whose number is `request`. */
  candidates(request: number): Candidate[] {
    return this.byNumber.get(request >>> 0) ?? [];
  }

  /**
   * The meaning of `request` on an object of `objectKind` for a target of `abi`. `family` is a family
   * (`kvm`, `haxm`) or one set's id (`haxm-darwin`). Requests of the host architecture are preferred over
   * other architectures' that share the number; within a family, the driver's Linux set first (see rank).
   */
  lookup(request: number, objectKind: string | undefined, abi: Abi, family?: string): IoctlSchema | undefined {
    return this.resolve(request, objectKind, abi, family)?.ioctl;
  }

  resolve(request: number, objectKind: string | undefined, abi: Abi, family?: string): Candidate | undefined {
    const bySet = family !== undefined && this.byId.has(family) && this.byId.get(family)!.family !== family;
    const all = this.candidates(request).filter((c) => c.abi === abi && (!family || (bySet ? c.set.id === family : c.set.family === family)));
    const fits = objectKind ? all.filter((c) => c.ioctl.on.includes(objectKind)) : all;
    const pick = (list: Candidate[]) => list.find((c) => !c.ioctl.arch) ?? list[0];
    return pick(fits);
  }

  /**
   * The meaning of `request` on an object bound to `set`: the set's own request first, then one of
   * its family with the same numbering on the same OS (a monitor's copy of the header), then any
   * of its family (a header for another OS).
   */
  lookupFor(request: number, objectKind: string, abi: Abi, set: SchemaSet): IoctlSchema | undefined {
    const sameOs = (s: SchemaSet) => !s.os || !set.os || s.os.some((o) => set.os!.includes(o));
    const rank = (c: Candidate) => (c.set === set ? 0 : c.set.numbering === set.numbering && sameOs(c.set) ? 1 : 2) * 2 + (c.ioctl.arch ? 1 : 0);
    let best: Candidate | undefined;
    for (const c of this.candidates(request)) {
      if (c.abi !== abi || c.set.family !== set.family || !c.ioctl.on.includes(objectKind)) continue;
      if (!best || rank(c) < rank(best)) best = c;
    }
    return best?.ioctl;
  }

  byIoctlName(name: string): Candidate | undefined {
    return this.byName.get(name);
  }

  /** Entries with the same family type and nr but another size or direction: the near misses. */
  nearMatches(request: number): Candidate[] {
    const parts = iocDecode(request);
    const out: Candidate[] = [];
    for (const set of this.sets) {
      if (set.numbering !== 'linux') continue;
      for (const ioctl of set.ioctls) {
        const e = ioctl.encoding;
        if (e.type !== parts.type || e.nr !== parts.nr) continue;
        for (const abi of set.abis) {
          const n = ioctl.numbers[abi];
          if (n !== undefined && n !== request >>> 0) out.push({ set, ioctl, abi });
        }
      }
    }
    return out;
  }

  /** The families whose Windows sets use this CTL_CODE device type. */
  familiesOfDeviceType(deviceType: number): string[] {
    const out = new Set<string>();
    for (const set of this.sets) for (const io of set.ioctls) if (io.encoding.deviceType === deviceType) out.add(set.family);
    return [...out];
  }

  /** The family whose sets use this `_IOC` type byte. */
  familiesOfType(type: number): string[] {
    const out = new Set<string>();
    for (const set of this.sets) for (const io of set.ioctls) if (set.numbering !== 'windows' && io.encoding.type === type) out.add(set.family);
    return [...out];
  }
}

const stamps = new WeakMap<SchemaSet, string>();

/** `id@hash`: which set, and which content of it, a trace was recorded with. */
export function schemaStamp(set: SchemaSet): string {
  let stamp = stamps.get(set);
  if (stamp === undefined) {
    // Hashing a whole set takes about 15 ms: once per set, not once per recording.
    stamp = `${set.id}@${createHash('sha256').update(JSON.stringify(set)).digest('hex').slice(0, 12)}`;
    stamps.set(set, stamp);
  }
  return stamp;
}

export function layoutOf(set: SchemaSet, abi: Abi, name: string): Layout | undefined {
  return set.types[abi]?.[name] ?? set.types.lp64?.[name];
}

/** The sub-table entry whose key matches; `*` in an entry matches any value. */
export function subtableEntry(table: Subtable, key: Record<string, number | string>): SubtableEntry | undefined {
  return table.entries.find((e) => table.keyFields.every((k) => e.key[k] === '*' || e.key[k] === key[k]));
}
