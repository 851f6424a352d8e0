// The committed KVM schema data is what the generator measures from this machine's headers today.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { generateKvm } from '../schemas/generate/kvm.js';
import { serializeSet } from '../schemas/generate/serialize.js';
import { dataPath } from '../schemas/paths.js';
import { hasGcc32, hasKvmHeaders } from './support/toolchain.js';

const committed = JSON.parse(readFileSync(dataPath('data/kvm-linux.json'), 'utf8'));
const headers = (() => {
  try { return execFileSync('dpkg-query', ['-W', '-f=${Version}', 'linux-libc-dev'], { encoding: 'utf8' }).trim(); } catch { return 'unknown'; }
})();
const sameHeaders = headers === committed.source['linux-libc-dev'];

describe.skipIf(!(hasKvmHeaders && hasGcc32 && sameHeaders))(
  `regenerating from linux-libc-dev ${committed.source['linux-libc-dev']} (this machine: ${headers}; needs gcc -m32)`,
  () => {
    it('gives the committed numbers, sizes and layouts', () => {
      const fresh = JSON.parse(serializeSet(generateKvm()));
      expect(fresh.ioctls).toEqual(committed.ioctls);
      expect(fresh.types).toEqual(committed.types);
      expect(fresh.constants).toEqual(committed.constants);
      expect(fresh.subtables).toEqual(committed.subtables);
      expect(fresh.runPage).toEqual(committed.runPage);
    }, 60_000);
  },
);
