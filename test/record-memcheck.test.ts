// --memcheck: the target runs under valgrind memcheck with the shim preloaded. Input regions carry
// memcheck's definedness, and output regions are marked defined so valgrind stops reporting the
// values KVM wrote (here: a /dev/kvm attribute read with KVM_GET_DEVICE_ATTR) as uninitialised.

import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { SchemaRegistry } from '../schemas/registry.js';
import type { IoctlEvent } from '../traces/events.js';
import { buildMonitors, hasValgrind, kvmSkipReason, recordCommand, tempDir } from './support/monitors.js';

const skip = kvmSkipReason ?? (hasValgrind ? undefined : 'valgrind is not installed');
const registry = SchemaRegistry.default();
const FALSE_POSITIVE = /Conditional jump or move depends on uninitialised value/;
const errorCount = (report: string) => Number(/ERROR SUMMARY: (\d+) errors/.exec(report)?.[1]);
const bits = (undef: Uint8Array, length: number) => Array.from({ length }, (_, i) => (undef[i >> 3] >> (i & 7)) & 1);

/** Records under --memcheck with valgrind's report sent to a file (VALGRIND_OPTS reaches it). */
async function recordMemcheck(args: string[]) {
  const dir = tempDir('ioctlgrind-vg-');
  process.env.VALGRIND_OPTS = `--log-file=${dir}/vg.%p.log`;
  const rec = await recordCommand(args, { memcheck: true });
  const report = readdirSync(dir).map((f) => readFileSync(join(dir, f), 'utf8')).join('\n');
  return { rec, report };
}

describe.skipIf(skip)(`record --memcheck (${skip ?? 'real /dev/kvm, valgrind'})`, () => {
  afterEach(() => {
    delete process.env.VALGRIND_OPTS;
  });

  it('without the shim, valgrind reports the device attribute KVM wrote as uninitialised', () => {
    const m = buildMonitors();
    const r = spawnSync('valgrind', [m.kvmmon, '--quiet', m.guests.real], { encoding: 'utf8' });
    expect(r.status).toBe(0);
    expect(r.stderr).toMatch(FALSE_POSITIVE);
  });

  it('with it, that false positive is gone and a clean monitor has no errors', async () => {
    const m = buildMonitors();
    const { rec, report } = await recordMemcheck([m.kvmmon, '--quiet', m.guests.real]);
    expect(rec.exit.status).toBe(0);
    expect(rec.header.memcheck).toBe(true);
    expect(report).not.toMatch(FALSE_POSITIVE);
    expect(errorCount(report)).toBe(0);
  });

  it('records which input bytes were undefined: kvm_msrs.pad and entries[0].reserved', async () => {
    const m = buildMonitors();
    const { rec, report } = await recordMemcheck([m.kvmmon, '--quiet', '--uninit', m.guests.real]);
    expect(rec.exit.status).toBe(0);
    expect(report).toMatch(/Syscall param ioctl\(generic\) points to uninitialised byte/);
    const setMsrs = rec.trace.find((e): e is IoctlEvent => e.type === 'ioctl' && registry.lookup(e.request, 'vcpu', 'lp64')?.name === 'KVM_SET_MSRS')!;
    const arg = setMsrs.regions.find((r) => r.role === 'arg')!;
    expect(arg.length).toBe(24);
    // nmsrs, pad, entries[0].index, entries[0].reserved, entries[0].data
    expect(bits(arg.undef!, 24)).toEqual([...Array(4).fill(0), ...Array(4).fill(1), ...Array(4).fill(0), ...Array(4).fill(1), ...Array(8).fill(0)]);
    const runs = rec.trace.filter((e): e is IoctlEvent => e.type === 'ioctl' && registry.lookup(e.request, 'vcpu', 'lp64')?.name === 'KVM_RUN');
    expect(runs.length).toBeGreaterThan(5);
  });
});
