// record keeps the rule tables it used (build/rules/ by default) so that the next recording starts
// its target before loading the schemas; kept tables that no longer match the schemas are replaced,
// and the recording that used them says so.

import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { record } from '../recorder/record.js';
import { buildRuleTables } from '../recorder/rules.js';
import { SchemaRegistry } from '../schemas/registry.js';
import type { IoctlEvent, TraceEvent } from '../traces/events.js';
import { TraceReader } from '../traces/reader.js';
import { buildMonitors, kvmSkipReason, tempDir } from './support/monitors.js';

const registry = SchemaRegistry.default();
const set = registry.set('kvm-linux');
const fresh = buildRuleTables(set);
const GET_MSRS = set.ioctls.find((i) => i.name === 'KVM_GET_MSRS')!;

async function recordWith(cache: string | null, stale = false): Promise<TraceEvent[]> {
  const m = buildMonitors();
  const output = join(tempDir('rule-cache-'), 'out.trace');
  const r = await record({ command: [m.kvmmon, '--quiet', '--exits', '3', m.guests.exits], output, memcheck: false, ruleCache: cache });
  expect(r.exit.status).toBe(0);
  expect(r.staleRules).toBe(stale);
  return [...TraceReader.open(output)];
}
const notes = (trace: TraceEvent[]) => trace.filter((e) => e.type === 'note' && e.message.includes('rule tables'));
const getMsrs = (trace: TraceEvent[]) => trace.find((e): e is IoctlEvent => e.type === 'ioctl' && e.request === GET_MSRS.numbers.lp64)!;

describe.skipIf(kvmSkipReason)(`kept rule tables (${kvmSkipReason ?? 'real /dev/kvm'})`, () => {
  it('keeps the tables a first recording built, and the next one uses them without a note', async () => {
    const cache = tempDir('rules-');
    const first = await recordWith(cache);
    expect(readFileSync(join(cache, 'kvm-linux.lp64')).equals(fresh.lp64)).toBe(true);
    expect(readFileSync(join(cache, 'kvm-linux.ilp32')).equals(fresh.ilp32)).toBe(true);
    const second = await recordWith(cache);
    expect(notes(first)).toEqual([]);
    expect(notes(second)).toEqual([]);
    // The kept table is the real one: KVM_GET_MSRS's entries (a tail sized by nmsrs) are captured.
    expect(getMsrs(second).regions[0].length).toBeGreaterThan(8);
  });

  it('replaces tables that differ from the schemas, and the recording that used them says so', async () => {
    const cache = tempDir('rules-');
    // Tables of a set without KVM_GET_MSRS: the shim then sees it as an unknown request.
    const stale = buildRuleTables({ ...set, ioctls: set.ioctls.filter((i) => i !== GET_MSRS) });
    writeFileSync(join(cache, 'kvm-linux.lp64'), stale.lp64);
    writeFileSync(join(cache, 'kvm-linux.ilp32'), stale.ilp32);
    const used = await recordWith(cache, true);
    expect(notes(used)).toHaveLength(1);
    expect(used[0]).toBe(notes(used)[0]); // before the target's first event
    expect(getMsrs(used).regions[0].length).toBe(8); // only the _IOC size: the header, no entries
    expect(readFileSync(join(cache, 'kvm-linux.lp64')).equals(fresh.lp64)).toBe(true);
    const next = await recordWith(cache);
    expect(notes(next)).toEqual([]);
    expect(getMsrs(next).regions[0].length).toBeGreaterThan(8);
  });

  it('builds the tables each time where there is no cache, or none can be kept', async () => {
    for (const cache of [null, join(tempDir('rules-'), 'a-file', 'rules')]) {
      if (cache) writeFileSync(join(cache, '..'), 'not a folder');
      const trace = await recordWith(cache);
      expect(notes(trace)).toEqual([]);
      expect(getMsrs(trace).regions[0].length).toBeGreaterThan(8);
    }
  });
});
