// Pointers inside array elements: the shim follows kvm_msr_filter.ranges[].bitmap in every range,
// sized by that range's nmsrs, and records the same regions planRegions computes for the event.
// The monitor (kvmmon --msr-filter) fills ranges 0, 1 and 3 with 1, 100 and 300 MSRs and gives
// range 2 a bitmap but no MSRs; each bitmap byte i of range r is msr_filter_byte(r, i).

import { describe, expect, it } from 'vitest';
import { readField } from '../schemas/codec.js';
import type { Abi } from '../schemas/model.js';
import { planRegions } from '../schemas/regions.js';
import { SchemaRegistry } from '../schemas/registry.js';
import type { IoctlEvent } from '../traces/events.js';
import { buildMonitors, hasCc32, kvmSkipReason, recordCommand } from './support/monitors.js';

const registry = SchemaRegistry.default();
const kvm = registry.set('kvm-linux');
const filterSchema = kvm.ioctls.find((io) => io.name === 'KVM_X86_SET_MSR_FILTER')!;

/** kvmmon.c's msr_filter_byte. */
const filterByte = (range: number, i: number) => (0x40 * range + 3 * i + 1) & 0xff;
const bitmapOf = (range: number, length: number) => Uint8Array.from({ length }, (_, i) => filterByte(range, i));

async function recordFilter(monitor: string, guest: string, abi: Abi) {
  const rec = await recordCommand([monitor, '--msr-filter', '--quiet', '--exit-code', '4', guest]);
  expect(rec.exit.status).toBe(4);
  expect(rec.header.abi).toBe(abi);
  const calls = rec.trace.filter((e): e is IoctlEvent => e.type === 'ioctl' && registry.lookup(e.request, undefined, abi)?.name === 'KVM_X86_SET_MSR_FILTER');
  expect(calls).toHaveLength(1);
  expect(calls[0]).toMatchObject({ ret: 0, errno: 0 });
  return calls[0];
}

function expectBitmaps(call: IoctlEvent, abi: Abi): void {
  const arg = call.regions.find((r) => r.role === 'arg')!;
  expect(arg).toMatchObject({ length: abi === 'lp64' ? 392 : 260, dir: 'in' });
  expect(call.regions.map((r) => r.role)).toEqual(['arg', 'ranges[0].bitmap', 'ranges[1].bitmap', 'ranges[3].bitmap']);
  for (const [range, length] of [[0, 8], [1, 16], [3, 40]]) {
    const region = call.regions.find((r) => r.role === `ranges[${range}].bitmap`)!;
    const pointer = readField(kvm, abi, 'kvm_msr_filter', `ranges[${range}].bitmap`, arg.before!);
    expect(region).toMatchObject({ addr: Number(pointer), length, dir: 'in' });
    expect(region.problem).toBeUndefined();
    expect(region.before).toEqual(bitmapOf(range, length));
  }
  // Range 2 points at a bitmap but holds no MSRs: not a region, on either side.
  expect(readField(kvm, abi, 'kvm_msr_filter', 'ranges[2].bitmap', arg.before!)).not.toBe(0n);
  expect(readField(kvm, abi, 'kvm_msr_filter', 'ranges[2].nmsrs', arg.before!)).toBe(0n);
}

function expectPlanned(call: IoctlEvent, abi: Abi): void {
  const arg = call.regions.find((r) => r.role === 'arg')!;
  const planned = planRegions(kvm, abi, filterSchema, call.arg, arg.before, { kind: 'vm' });
  const shape = (r: { role: string; addr: number; length: number; dir: string }) => ({ role: r.role, addr: r.addr, length: r.length, dir: r.dir });
  expect(call.regions.map(shape)).toEqual(planned.map(shape));
}

describe.skipIf(kvmSkipReason)(`pointers inside array elements (${kvmSkipReason ?? 'real /dev/kvm'})`, () => {
  let call64: Promise<IoctlEvent> | undefined;
  const record64 = () => (call64 ??= recordFilter(buildMonitors().kvmmon, buildMonitors().guests.real, 'lp64'));

  it('records each used KVM_X86_SET_MSR_FILTER range bitmap with its role, size and bytes', async () => {
    expectBitmaps(await record64(), 'lp64');
  });

  it('records the regions planRegions computes for the same event', async () => {
    expectPlanned(await record64(), 'lp64');
  });

  it.skipIf(!hasCc32)('follows them in the ilp32 layout of a 32-bit monitor', async () => {
    const m = buildMonitors();
    const call = await recordFilter(m.kvmmon32!, m.guests.real, 'ilp32');
    expectBitmaps(call, 'ilp32');
    expectPlanned(call, 'ilp32');
  });
});
