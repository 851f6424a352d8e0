// `npm run schemas:generate`: measures the schema sets with the system compiler and headers and
// writes them to schemas/data/, where the rest of ioctlgrind reads them without any compiler.

import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { dataPath } from '../paths.js';
import { generateKvm } from './kvm.js';
import { serializeSet } from './serialize.js';

const sets = [generateKvm()];
for (const set of sets) {
  const path = dataPath(`data/${set.id}.json`);
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, serializeSet(set));
  console.log(`${path}: ${set.ioctls.length} ioctls, ${Object.keys(set.types.lp64 ?? {}).length} types`);
}
