// A malformed schema set is refused with one line naming the file and the field.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadSchemaSets } from '../schemas/registry.js';
import { dataPath } from '../schemas/paths.js';
import { readFileSync } from 'node:fs';

function loadWith(mutate: (set: any) => void): () => unknown {
  const dir = mkdtempSync(join(tmpdir(), 'ioctlgrind-schema-'));
  const set = JSON.parse(readFileSync(dataPath('data/kvm-linux.json'), 'utf8'));
  mutate(set);
  writeFileSync(join(dir, 'bad.json'), JSON.stringify(set));
  return () => loadSchemaSets(dir);
}

describe('malformed schema sets', () => {
  it('names the ioctl and the field with a bad number', () => {
    expect(loadWith((s) => { s.ioctls[3].numbers.lp64 = 'x'; })).toThrow(/bad\.json: ioctls\[3\] \(\w+\)\.numbers\.lp64: expected an integer/);
  });
  it('names a bad layout field', () => {
    expect(loadWith((s) => { s.types.lp64.kvm_regs.fields[2].offset = -1; })).toThrow(/bad\.json: types\.lp64\.kvm_regs\.fields\[2\]\.offset/);
  });
  it('names an unknown ABI', () => {
    expect(loadWith((s) => { s.abis = ['lp64', 'vax']; })).toThrow(/bad\.json: abis\[1\]: unknown ABI "vax"/);
  });
  it('refuses text that is not JSON', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ioctlgrind-schema-'));
    writeFileSync(join(dir, 'junk.json'), '{ nope');
    expect(() => loadSchemaSets(dir)).toThrow(/junk\.json: not JSON/);
  });
});
