// The 32-bit path: an i386 monitor gets the i386 shim, the ilp32 rule table and an ilp32 trace.

import { describe, expect, it } from 'vitest';
import { decodeExit } from '../schemas/codec.js';
import { SchemaRegistry } from '../schemas/registry.js';
import type { IoctlEvent } from '../traces/events.js';
import { buildMonitors, hasCc32, kvmSkipReason, recordCommand } from './support/monitors.js';

const skip = kvmSkipReason ?? (hasCc32 ? undefined : 'cc -m32 cannot link here');
const registry = SchemaRegistry.default();

describe.skipIf(skip)(`a 32-bit monitor (${skip ?? 'real /dev/kvm, cc -m32'})`, () => {
  it('is recorded with the 32-bit shim and ilp32 layouts', async () => {
    const m = buildMonitors();
    const rec = await recordCommand([m.kvmmon32!, '--mode', 'prot32', '--quiet', '--exit-code', '3', m.guests.prot32]);
    expect(rec.exit.status).toBe(3);
    expect(rec.header.abi).toBe('ilp32');
    const ioctls = rec.trace.filter((e): e is IoctlEvent => e.type === 'ioctl');
    const name = (e: IoctlEvent) => registry.lookup(e.request, undefined, 'ilp32')?.name;
    const memory = ioctls.find((e) => name(e) === 'KVM_SET_USER_MEMORY_REGION')!;
    expect(memory.regions[0]).toMatchObject({ role: 'arg', length: 32 });
    expect(Number(memory.arg)).toBeLessThan(2 ** 32);
    const attr = ioctls.find((e) => name(e) === 'KVM_GET_DEVICE_ATTR' && e.ret === 0)!;
    expect(attr.regions.find((r) => r.role === 'addr')).toMatchObject({ length: 8, dir: 'out' });
    const kvm = registry.set('kvm-linux');
    const reasons = ioctls.filter((e) => name(e) === 'KVM_RUN').map((e) => decodeExit(kvm, 'ilp32', e.regions.find((r) => r.role === 'run')!.after!)?.reason);
    expect(reasons).toEqual(expect.arrayContaining(['KVM_EXIT_IO', 'KVM_EXIT_MMIO', 'KVM_EXIT_HLT']));
    expect(rec.trace.some((e) => e.type === 'memory' && e.why === 'write')).toBe(true);
  });

  it('is recorded when a 64-bit program starts it, each process with the shim of its class', async () => {
    const m = buildMonitors();
    const rec = await recordCommand(['sh', '-c', `${m.kvmmon} --quiet ${m.guests.real} && ${m.kvmmon32} --quiet ${m.guests.real}`]);
    expect(rec.exit.status).toBe(0);
    expect(rec.header.abi).toBe('lp64');
    const runners = new Set(rec.trace.filter((e) => e.type === 'ioctl').map((e) => e.pid));
    expect(runners.size).toBe(2);
    const notes = rec.trace.filter((e) => e.type === 'note' && / is ilp32: decode its regions with ilp32 layouts/.test(e.message));
    expect(notes).toHaveLength(1);
  });
});
