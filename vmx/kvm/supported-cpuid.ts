// KVM_GET_SUPPORTED_CPUID of the emulated core: only what its CPU executes (vmx/README.md), so that
// a guest probing CPUID never picks an instruction set the core would stop on.

import type { KvmCpuidEntry } from '../index.js';

const word = (text: string): number => text.split('').reduce((v, c, i) => v | (c.charCodeAt(0) << (8 * i)), 0) >>> 0;

/** CPUID.1:EDX bits: PSE, TSC, MSR, PAE, CMOV. No FPU: x87 is not executed. */
const LEAF1_EDX = (1 << 3) | (1 << 4) | (1 << 5) | (1 << 6) | (1 << 15);
/** CPUID.80000001h:EDX bits: NX and LM (paging checks NX; long mode runs). */
const EXT1_EDX = (1 << 20) | (1 << 29);

export const SUPPORTED_CPUID: readonly KvmCpuidEntry[] = [
  { function: 0, index: 0, flags: 0, eax: 1, ebx: word('Genu'), edx: word('ineI'), ecx: word('ntel') },
  // Family 6, model 6, stepping 3: what QEMU's qemu64 model reports, recognisable as virtual.
  { function: 1, index: 0, flags: 0, eax: 0x663, ebx: 0, ecx: 0, edx: LEAF1_EDX },
  { function: 0x80000000, index: 0, flags: 0, eax: 0x80000008, ebx: 0, ecx: 0, edx: 0 },
  { function: 0x80000001, index: 0, flags: 0, eax: 0, ebx: 0, ecx: 0, edx: EXT1_EDX >>> 0 },
  // 40 physical, 48 linear address bits.
  { function: 0x80000008, index: 0, flags: 0, eax: 0x3028, ebx: 0, ecx: 0, edx: 0 },
];
