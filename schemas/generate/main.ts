// `npm run schemas:generate`: measures the schema sets with the system compiler and headers and
// writes them to schemas/data/, where the rest of ioctlgrind reads them without any compiler.
// `node dist/schemas/generate/main.js [ID...]` regenerates only the sets named.

import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { SchemaSet } from '../model.js';
import { dataPath } from '../paths.js';
import { generateFamilySet, type FamilySetSpec } from './family.js';
import { HAXM_SETS } from './haxm.js';
import { generateKvm } from './kvm.js';
import { MSHV_SETS } from './mshv.js';
import { serializeSet } from './serialize.js';
import { XEN_SETS } from './xen.js';

export const FAMILY_SETS: FamilySetSpec[] = [...HAXM_SETS, ...MSHV_SETS, ...XEN_SETS];

const only = new Set(process.argv.slice(2));
const wanted = (id: string) => only.size === 0 || only.has(id);

function write(set: SchemaSet): void {
  const path = dataPath(`data/${set.id}.json`);
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, serializeSet(set));
  const abi = set.abis[0];
  console.log(`${path}: ${set.ioctls.length} ioctls, ${Object.keys(set.types[abi] ?? {}).length} types`);
}

if (wanted('kvm-linux')) write(generateKvm());
for (const spec of FAMILY_SETS) {
  if (!wanted(spec.id)) continue;
  const g = generateFamilySet(spec);
  if ('skipped' in g) console.log(`${g.skipped}; the committed schemas/data/${spec.id}.json is left as it is`);
  else write(g.set);
}
