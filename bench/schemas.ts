// Decode speed: request lookups and struct decodes per second, beside a bare DataView read of the
// same bytes so the ratio shows what the schema walk costs.

import { decodeExit, decodeType } from '../schemas/codec.js';
import { SchemaRegistry } from '../schemas/registry.js';
import type { BenchRow } from './row.js';
import { rate, timeIt } from './row.js';

export async function benchSchemas(): Promise<BenchRow[]> {
  const registry = SchemaRegistry.default();
  const set = registry.set('kvm-linux');
  const requests = set.ioctls.map((i) => i.numbers.lp64!).filter((n) => n !== undefined);
  const lookups = 2_000_000;
  const tLookup = timeIt(() => {
    for (let i = 0; i < lookups; i++) registry.lookup(requests[i % requests.length], 'vcpu', 'lp64');
  });
  const regs = new Uint8Array(144).map((_, i) => i);
  const decodes = 200_000;
  const tDecode = timeIt(() => {
    for (let i = 0; i < decodes; i++) decodeType(set, 'lp64', { kind: 'struct', name: 'kvm_regs' }, regs);
  });
  const view = new DataView(regs.buffer);
  let sink = 0n;
  const tRaw = timeIt(() => {
    for (let i = 0; i < decodes; i++) for (let off = 0; off < 144; off += 8) sink ^= view.getBigUint64(off, true);
  });
  const run = new Uint8Array(4096);
  new DataView(run.buffer).setUint32(8, 2, true);
  const tExit = timeIt(() => {
    for (let i = 0; i < decodes; i++) decodeExit(set, 'lp64', run);
  });
  void sink;
  return [
    { bench: 'decode', what: 'request lookup (number + object kind)', value: rate(lookups, tLookup), unit: 'lookups/s' },
    { bench: 'decode', what: 'kvm_regs decode through the schema', value: rate(decodes, tDecode), unit: 'structs/s', ratio: `${(tDecode / tRaw).toFixed(1)}x a bare DataView read of the 18 fields` },
    { bench: 'decode', what: 'kvm_run exit decode (KVM_EXIT_IO)', value: rate(decodes, tExit), unit: 'exits/s' },
  ];
}
