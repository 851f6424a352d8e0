/**
 * vCPU state in the shapes of KVM's structures (field names as in <linux/kvm.h>), so a KVM
 * front-end maps them one to one. 64-bit fields are bigint; narrower ones are numbers.
 */

export interface KvmRegs {
  rax: bigint;
  rbx: bigint;
  rcx: bigint;
  rdx: bigint;
  rsi: bigint;
  rdi: bigint;
  rsp: bigint;
  rbp: bigint;
  r8: bigint;
  r9: bigint;
  r10: bigint;
  r11: bigint;
  r12: bigint;
  r13: bigint;
  r14: bigint;
  r15: bigint;
  rip: bigint;
  rflags: bigint;
}

/** kvm_regs field names by x86 register number (the order the CPU's register file uses). */
export const GPR_NAMES = ['rax', 'rcx', 'rdx', 'rbx', 'rsp', 'rbp', 'rsi', 'rdi', 'r8', 'r9', 'r10', 'r11', 'r12', 'r13', 'r14', 'r15'] as const;

export interface KvmSegment {
  base: bigint;
  limit: number;
  selector: number;
  type: number;
  present: number;
  dpl: number;
  db: number;
  s: number;
  l: number;
  g: number;
  avl: number;
  unusable: number;
}

export interface KvmDtable {
  base: bigint;
  limit: number;
}

export interface KvmSregs {
  cs: KvmSegment;
  ds: KvmSegment;
  es: KvmSegment;
  fs: KvmSegment;
  gs: KvmSegment;
  ss: KvmSegment;
  tr: KvmSegment;
  ldt: KvmSegment;
  gdt: KvmDtable;
  idt: KvmDtable;
  cr0: bigint;
  cr2: bigint;
  cr3: bigint;
  cr4: bigint;
  cr8: bigint;
  efer: bigint;
  apic_base: bigint;
  /** Bit n set: external interrupt n queued and not yet delivered (KVM reports at most one). */
  interrupt_bitmap: bigint[];
}

/** kvm_fpu: the FXSAVE-format state, kept as bytes (the CPU executes no x87/SSE instructions). */
export interface KvmFpu {
  /** 8 registers of 16 bytes. */
  fpr: Uint8Array[];
  fcw: number;
  fsw: number;
  ftwx: number;
  last_opcode: number;
  last_ip: bigint;
  last_dp: bigint;
  /** 16 registers of 16 bytes. */
  xmm: Uint8Array[];
  mxcsr: number;
}

export interface KvmDebugRegs {
  db: bigint[];
  dr6: bigint;
  dr7: bigint;
}

export interface KvmMsrEntry {
  index: number;
  data: bigint;
}

export interface KvmCpuidEntry {
  function: number;
  index: number;
  /** KVM_CPUID_FLAG_SIGNIFCANT_INDEX (1): `index` must match the subleaf. */
  flags: number;
  eax: number;
  ebx: number;
  ecx: number;
  edx: number;
}

export const KVM_CPUID_FLAG_SIGNIFCANT_INDEX = 1;

/** The reset FPU state (FNINIT values, MXCSR default), as KVM reports for a new vCPU. */
export function resetFpu(): KvmFpu {
  return {
    fpr: Array.from({ length: 8 }, () => new Uint8Array(16)),
    fcw: 0x37f,
    fsw: 0,
    ftwx: 0,
    last_opcode: 0,
    last_ip: 0n,
    last_dp: 0n,
    xmm: Array.from({ length: 16 }, () => new Uint8Array(16)),
    mxcsr: 0x1f80,
  };
}
