// The pages a vCPU fd maps: kvm_run, and the coalesced MMIO ring with its variable tail.
import { describe, expect, it } from 'vitest';
import { decodeType } from '../schemas/codec.js';
import { SchemaRegistry } from '../schemas/registry.js';

const set = SchemaRegistry.default().set('kvm-linux');

describe('KVM mapped pages', () => {
  it('has the coalesced MMIO ring at its page offset with as many entries as fit a page', () => {
    const ring = set.mappings!.find((m) => m.type === 'kvm_coalesced_mmio_ring')!;
    expect(ring.pageOffset).toBe(set.constants.KVM_COALESCED_MMIO_PAGE_OFFSET);
    const header = set.types.lp64!.kvm_coalesced_mmio_ring.size;
    const entry = set.types.lp64!.kvm_coalesced_mmio.size;
    expect(ring.tail).toEqual({ field: 'coalesced_mmio', count: Math.floor((4096 - header) / entry) });
  });

  it('decodes a ring page', () => {
    const page = new Uint8Array(4096);
    const v = new DataView(page.buffer);
    v.setUint32(0, 0, true); // first
    v.setUint32(4, 1, true); // last
    v.setBigUint64(8, 0xfed00000n, true); // coalesced_mmio[0].phys_addr
    v.setUint32(16, 4, true); // len
    const ring = decodeType(set, 'lp64', { kind: 'struct', name: 'kvm_coalesced_mmio_ring' }, page) as { first: number; last: number };
    expect(ring).toMatchObject({ first: 0, last: 1 });
    const first = decodeType(set, 'lp64', { kind: 'struct', name: 'kvm_coalesced_mmio' }, page, 8);
    expect(first).toMatchObject({ phys_addr: 0xfed00000n, len: 4 });
  });

  it('maps kvm_run at offset 0', () => {
    expect(set.mappings!.find((m) => m.pageOffset === 0)?.type).toBe('kvm_run');
  });
});
