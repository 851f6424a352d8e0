// Decoding and encoding argument bytes through the measured layouts.
import { describe, expect, it } from 'vitest';
import { decodeExit, decodeType, encodeType, fieldLocation, fieldsCovering, readField } from '../schemas/codec.js';
import { SchemaRegistry } from '../schemas/registry.js';

const set = SchemaRegistry.default().set('kvm-linux');

describe('codec', () => {
  it('round-trips kvm_regs with 64-bit values exact', () => {
    const bytes = new Uint8Array(144);
    const regs = { rax: 0xffffffff_fffffff0n, rip: 0x1000n, rflags: 2n };
    encodeType(set, 'lp64', { kind: 'struct', name: 'kvm_regs' }, regs, bytes);
    const back = decodeType(set, 'lp64', { kind: 'struct', name: 'kvm_regs' }, bytes) as Record<string, bigint>;
    expect(back.rax).toBe(0xffffffff_fffffff0n);
    expect(back.rip).toBe(0x1000n);
    expect(back.rflags).toBe(2n);
    expect(back.rbx).toBe(0n);
  });

  it('decodes a flexible tail by its count, bounded by the bytes present', () => {
    const bytes = new Uint8Array(8 + 16 * 2);
    const view = new DataView(bytes.buffer);
    view.setUint32(0, 1000, true); // a lying count
    view.setUint32(8, 0x10, true);
    view.setBigUint64(16, 0x1234n, true);
    const msrs = decodeType(set, 'lp64', { kind: 'struct', name: 'kvm_msrs' }, bytes) as { nmsrs: number; entries: { index: number; data: bigint }[] };
    expect(msrs.nmsrs).toBe(1000);
    expect(msrs.entries).toHaveLength(2);
    expect(msrs.entries[0]).toMatchObject({ index: 0x10, data: 0x1234n });
  });

  it('leaves bytes beyond a short buffer undefined rather than zero', () => {
    const regs = decodeType(set, 'lp64', { kind: 'struct', name: 'kvm_regs' }, new Uint8Array(12)) as Record<string, unknown>;
    expect(regs.rax).toBe(0n);
    expect(regs.rbx).toBeUndefined();
  });

  it('decodes a KVM_EXIT_IO and a KVM_EXIT_MMIO from the run page', () => {
    const run = new Uint8Array(4096);
    const v = new DataView(run.buffer);
    const io = fieldLocation(set, 'lp64', 'kvm_run', 'io')!;
    v.setUint32(8, set.runPage!.exits.find((e) => e.name === 'KVM_EXIT_IO')!.value, true);
    v.setUint8(io.offset, 1);
    v.setUint8(io.offset + 1, 1);
    v.setUint16(io.offset + 2, 0x3f8, true);
    v.setUint32(io.offset + 4, 1, true);
    v.setBigUint64(io.offset + 8, 4096n, true);
    expect(decodeExit(set, 'lp64', run)).toMatchObject({ reason: 'KVM_EXIT_IO', member: 'io', data: { direction: 1, size: 1, port: 0x3f8, count: 1, data_offset: 4096n } });
    v.setUint32(8, set.runPage!.exits.find((e) => e.name === 'KVM_EXIT_MMIO')!.value, true);
    const mmio = fieldLocation(set, 'lp64', 'kvm_run', 'mmio')!;
    v.setBigUint64(mmio.offset, 0xb8000n, true);
    const exit = decodeExit(set, 'lp64', run)!;
    expect(exit.reason).toBe('KVM_EXIT_MMIO');
    expect((exit.data as { phys_addr: bigint }).phys_addr).toBe(0xb8000n);
  });

  it('names the fields a byte range covers', () => {
    expect(fieldsCovering(set, 'lp64', { kind: 'struct', name: 'kvm_regs' }, 8, 16)).toEqual(['rbx']);
    expect(fieldsCovering(set, 'lp64', { kind: 'struct', name: 'kvm_msrs' }, 8 + 16 * 3 + 8, 8 + 16 * 4)).toEqual(['entries[3].data']);
    expect(fieldsCovering(set, 'lp64', { kind: 'struct', name: 'kvm_device_attr' }, 16, 24)).toEqual(['addr']);
  });

  it('reads fields by path on each ABI', () => {
    const attr = new Uint8Array(24);
    new DataView(attr.buffer).setBigUint64(16, 0x7fff0000n, true);
    expect(readField(set, 'lp64', 'kvm_device_attr', 'addr', attr)).toBe(0x7fff0000n);
    expect(fieldLocation(set, 'ilp32', 'kvm_msr_filter', 'ranges[1].bitmap')!.offset).toBe(4 + 16 + 12);
    expect(fieldLocation(set, 'lp64', 'kvm_msr_filter', 'ranges[1].bitmap')!.offset).toBe(8 + 24 + 16);
  });
});
