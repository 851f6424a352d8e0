// Loads the committed schema sets and answers "what can this request number mean on this object".

import { readdirSync, readFileSync } from 'node:fs';
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

let defaultRegistry: SchemaRegistry | undefined;

export class SchemaRegistry {
  private readonly byNumber = new Map<number, Candidate[]>();
  private readonly byName = new Map<string, Candidate>();
  private readonly byId = new Map<string, SchemaSet>();

  constructor(readonly sets: SchemaSet[]) {
    for (const set of sets) {
      this.byId.set(set.id, set);
      for (const ioctl of set.ioctls) {
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

  /** The sets under schemas/data, loaded once. */
  static default(): SchemaRegistry {
    defaultRegistry ??= new SchemaRegistry(loadSchemaSets());
    return defaultRegistry;
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
   * The meaning of `request` on an object of `objectKind` for a target of `abi`. Requests of the
   * host architecture are preferred over other architectures' that share the number.
   */
  lookup(request: number, objectKind: string | undefined, abi: Abi, family?: string): IoctlSchema | undefined {
    return this.resolve(request, objectKind, abi, family)?.ioctl;
  }

  resolve(request: number, objectKind: string | undefined, abi: Abi, family?: string): Candidate | undefined {
    const all = this.candidates(request).filter((c) => c.abi === abi && (!family || c.set.family === family));
    const fits = objectKind ? all.filter((c) => c.ioctl.on.includes(objectKind)) : all;
    const pick = (list: Candidate[]) => list.find((c) => !c.ioctl.arch) ?? list[0];
    return pick(fits);
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

  /** The family whose sets use this `_IOC` type byte. */
  familiesOfType(type: number): string[] {
    const out = new Set<string>();
    for (const set of this.sets) for (const io of set.ioctls) if (io.encoding.type === type) out.add(set.family);
    return [...out];
  }
}

export function layoutOf(set: SchemaSet, abi: Abi, name: string): Layout | undefined {
  return set.types[abi]?.[name] ?? set.types.lp64?.[name];
}

/** The sub-table entry whose key matches; `*` in an entry matches any value. */
export function subtableEntry(table: Subtable, key: Record<string, number | string>): SubtableEntry | undefined {
  return table.entries.find((e) => table.keyFields.every((k) => e.key[k] === '*' || e.key[k] === key[k]));
}
