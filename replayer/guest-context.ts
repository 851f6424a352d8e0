// The guest's state where a replay diverged: its mode, rip and the instruction there, asked of the
// driver through the same ioctls a monitor uses, so it works on every back-end.

import { Decoder, DecoderOptions, Formatter, FormatterSyntax } from 'iced-x86';
import type { SchemaSet, Abi } from '../schemas/model.js';
import { decodeType, type Decoded } from '../schemas/codec.js';
import { SchemaRegistry } from '../schemas/registry.js';
import type { Driver } from '../vmx/driver.js';
import type { GuestContext } from './divergence.js';

type Regs = Record<string, bigint>;
type Sregs = Record<string, Decoded> & { cs: Record<string, number | bigint>; cr0: bigint; cr3: bigint; cr4: bigint; efer: bigint };

/** Reads a struct through a GET ioctl into a scratch buffer. */
function getStruct(driver: Driver, set: SchemaSet, abi: Abi, fd: number, name: string, struct: string): Decoded | undefined {
  const ioctl = set.ioctls.find((i) => i.name === name);
  const size = set.types[abi]?.[struct]?.size;
  const request = ioctl?.numbers[abi];
  if (!size || request === undefined) return undefined;
  const addr = driver.memory.alloc(size);
  try {
    const r = driver.ioctl(fd, request, addr);
    if (r.ret < 0) return undefined;
    return decodeType(set, abi, { kind: 'struct', name: struct }, driver.memory.read(addr, size));
  } finally {
    driver.memory.free(addr);
  }
}

export function modeOf(sregs: Sregs): GuestContext['mode'] {
  if ((Number(sregs.cr0) & 1) === 0) return 'real';
  if ((Number(sregs.efer) & 0x400) !== 0 && Number(sregs.cs.l) === 1) return 'long';
  return 'protected';
}

function bitsOf(mode: GuestContext['mode'], sregs: Sregs): number {
  if (mode === 'long') return 64;
  if (mode === 'real') return 16;
  return Number(sregs.cs.db) === 1 ? 32 : 16;
}

export function disassemble(bytes: Uint8Array, bits: number, ip: bigint): string | undefined {
  const decoder = new Decoder(bits, bytes, DecoderOptions.None);
  decoder.ip = ip;
  const insn = decoder.decode();
  try {
    if (insn.isInvalid) return undefined;
    const formatter = new Formatter(FormatterSyntax.Nasm);
    try {
      return formatter.format(insn);
    } finally {
      formatter.free();
    }
  } finally {
    insn.free();
    decoder.free();
  }
}

/**
 * Walks the guest's page tables (32-bit, PAE or 4-level) to a guest-physical address;
 * `readPhys` reads guest-physical memory.
 */
export function translate(linear: bigint, sregs: Sregs, readPhys: (gpa: bigint, n: number) => Uint8Array | undefined): bigint | undefined {
  const cr0 = BigInt(sregs.cr0);
  if ((cr0 & 0x80000000n) === 0n) return linear;
  const pae = (BigInt(sregs.cr4) & 0x20n) !== 0n;
  const long = (BigInt(sregs.efer) & 0x400n) !== 0n;
  const entry = (table: bigint, index: bigint, size: number): bigint | undefined => {
    const b = readPhys(table + index * BigInt(size), size);
    if (!b) return undefined;
    const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
    return size === 8 ? v.getBigUint64(0, true) : BigInt(v.getUint32(0, true));
  };
  if (!pae) {
    const pde = entry(BigInt(sregs.cr3) & ~0xfffn, (linear >> 22n) & 0x3ffn, 4);
    if (pde === undefined || (pde & 1n) === 0n) return undefined;
    if ((pde & 0x80n) !== 0n && (BigInt(sregs.cr4) & 0x10n) !== 0n) return (pde & 0xffc00000n) | (linear & 0x3fffffn);
    const pte = entry(pde & ~0xfffn, (linear >> 12n) & 0x3ffn, 4);
    if (pte === undefined || (pte & 1n) === 0n) return undefined;
    return (pte & ~0xfffn) | (linear & 0xfffn);
  }
  const levels = long ? [39n, 30n, 21n, 12n] : [30n, 21n, 12n];
  const addrMask = 0x000ffffffffff000n;
  let table = BigInt(sregs.cr3) & (long ? addrMask : 0xffffffe0n);
  for (let i = 0; i < levels.length; i++) {
    const shift = levels[i];
    const width = !long && i === 0 ? 3n : 0x1ffn;
    const e = entry(table, (linear >> shift) & width, 8);
    if (e === undefined || (e & 1n) === 0n) return undefined;
    const last = shift === 12n || ((shift === 21n || shift === 30n) && (e & 0x80n) !== 0n && i > 0);
    if (last) {
      const pageMask = (1n << shift) - 1n;
      return (e & addrMask & ~pageMask) | (linear & pageMask);
    }
    table = e & addrMask;
  }
  return undefined;
}

/** The context of a vCPU fd of the replay: its mode, rip and the instruction at rip. */
export function guestContext(driver: Driver, abi: Abi, vcpuFd: number, vcpuPath: string, readPhys: (gpa: bigint, n: number) => Uint8Array | undefined): GuestContext {
  const set = SchemaRegistry.default().set('kvm-linux');
  const regs = getStruct(driver, set, abi, vcpuFd, 'KVM_GET_REGS', 'kvm_regs') as Regs | undefined;
  const sregs = getStruct(driver, set, abi, vcpuFd, 'KVM_GET_SREGS', 'kvm_sregs') as Sregs | undefined;
  if (!regs || !sregs) return { vcpu: vcpuPath, mode: 'unknown', rip: '?' };
  const mode = modeOf(sregs);
  const rip = BigInt(regs.rip);
  const linear = (mode === 'long' ? 0n : BigInt(sregs.cs.base)) + rip;
  const gpa = translate(linear, sregs, readPhys);
  const bytes = gpa === undefined ? undefined : readPhys(gpa, 15);
  const instruction = bytes && disassemble(bytes, bitsOf(mode, sregs), rip);
  return { vcpu: vcpuPath, mode, rip: `0x${rip.toString(16)}`, ...(instruction ? { instruction } : {}) };
}
