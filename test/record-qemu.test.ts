// QEMU under `ioctlgrind record`: a tiny boot sector under -accel kvm. QEMU's output and exit status
// are unchanged, the trace holds every ioctl QEMU made, and every KVM request in it is decoded by name.
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SchemaRegistry } from '../schemas/registry.js';
import { ObjectGraph } from '../traces/objects.js';
import { TraceReader } from '../traces/reader.js';
import type { IoctlEvent } from '../traces/events.js';
import { cli } from './support/cli.js';
import { bootImage, qemuCommand, qemuSkipReason, QEMU_BOOT_STATUS, untilBooted } from './support/qemu.js';

const skip = qemuSkipReason;

describe.skipIf(skip !== undefined)(`QEMU under ioctlgrind record${skip ? ` (skipped: ${skip})` : ''}`, () => {
  it('leaves QEMU\'s output and exit status unchanged and decodes every KVM request by name', () => {
    const image = bootImage();
    const bare = untilBooted(() => spawnSync(qemuCommand(image)[0], qemuCommand(image).slice(1), { encoding: 'utf8', timeout: 60_000 }));
    const trace = join(mkdtempSync(join(tmpdir(), 'ioctlgrind-qemu-')), 'qemu.trace');
    const r = untilBooted(() => cli(['record', '-o', trace, '--', ...qemuCommand(image)], { timeout: 90_000 }));
    expect(r.status).toBe(bare.status);
    expect(bare.status).toBe(QEMU_BOOT_STATUS);
    expect(r.stdout).toContain('boot sector ok');
    expect(r.stdout).toBe(bare.stdout);

    const registry = SchemaRegistry.default();
    const reader = TraceReader.open(trace);
    const graph = new ObjectGraph(registry, reader.header.abi);
    const unnamed = new Set<string>();
    let kvmIoctls = 0;
    let runs = 0;
    for (const e of reader) {
      const ctx = graph.apply(e);
      if (e.type !== 'ioctl' || ctx.object?.family !== 'kvm') continue;
      kvmIoctls++;
      if (ctx.schema?.run) runs++;
      if (!ctx.schema) unnamed.add(`0x${(e as IoctlEvent).request.toString(16)} on ${ctx.object.path}`);
    }
    expect(kvmIoctls).toBeGreaterThan(100);
    expect(runs).toBeGreaterThan(10);
    expect([...unnamed]).toEqual([]);
  }, 300_000);
});
