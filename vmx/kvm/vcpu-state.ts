// vCPU state ioctls: registers, special registers (with KVM's validity checks), MSRs, CPUID, FPU,
// and KVM_INTERRUPT. Each copies user memory the way KVM does (whole structs; MSR entries read and
// written back whole), so exact traces show what KVM really touches.

import type { KvmCpuidEntry, KvmDebugRegs, KvmFpu, KvmMsrEntry, KvmRegs, KvmSregs } from '../index.js';
import { argStruct, readArg, writeArg, type Call, type Fields, type Handler } from './call.js';
import { Errno, fail } from './errors.js';
import type { VcpuObject } from './objects.js';
import { MAX_CPUID_ENTRIES } from './system.js';

/** MAX_IO_MSRS: KVM refuses this many entries or more in one call. */
const MAX_IO_MSRS = 256;
/** KVM_NR_INTERRUPTS. */
const NR_INTERRUPTS = 256;

const CR0_PE = 1n;
const CR0_NW = 1n << 29n;
const CR0_CD = 1n << 30n;
const CR0_PG = 1n << 31n;
const CR4_PAE = 1n << 5n;
const EFER_LME = 1n << 8n;
const EFER_LMA = 1n << 10n;
/** CR4 bits the core's CPUID allows: VME..OSXMMEXCPT (bits 0-10); the rest are reserved. */
const CR4_VALID = 0x7ffn;

const vcpuOf = (call: Call): VcpuObject => call.object as VcpuObject;

/** kvm_fpu's fpr and xmm are flat byte arrays in the layout, arrays of 16-byte registers in the core. */
const flat = (registers: Uint8Array[]): Uint8Array => {
  const out = new Uint8Array(registers.length * 16);
  registers.forEach((r, i) => out.set(r.subarray(0, 16), i * 16));
  return out;
};
const split = (bytes: Uint8Array): Uint8Array[] => Array.from({ length: bytes.length / 16 }, (_, i) => bytes.slice(i * 16, (i + 1) * 16));

/** kvm_is_valid_sregs: the combinations KVM_SET_SREGS refuses with EINVAL. */
export function checkSregs(s: Fields): void {
  const cr0 = s.cr0 as bigint;
  const cr4 = s.cr4 as bigint;
  const efer = s.efer as bigint;
  if ((efer & EFER_LME) !== 0n && (cr0 & CR0_PG) !== 0n) {
    if ((cr4 & CR4_PAE) === 0n || (efer & EFER_LMA) === 0n) fail(Errno.EINVAL, 'long mode paging needs CR4.PAE and EFER.LMA');
  } else if ((efer & EFER_LMA) !== 0n || (s.cs as Fields).l) {
    fail(Errno.EINVAL, 'EFER.LMA or CS.L without long mode paging');
  }
  if ((cr4 & ~CR4_VALID) !== 0n) fail(Errno.EINVAL, `CR4 reserved bits 0x${(cr4 & ~CR4_VALID).toString(16)}`);
  if (cr0 >> 32n !== 0n || ((cr0 & CR0_NW) !== 0n && (cr0 & CR0_CD) === 0n) || ((cr0 & CR0_PG) !== 0n && (cr0 & CR0_PE) === 0n)) fail(Errno.EINVAL, `CR0 0x${cr0.toString(16)} is invalid`);
}

/** msr_io: the header, then every entry read; processed up to the first failure; entries written back whole on GET. */
function msrIo(writeback: boolean, op: (vcpu: VcpuObject, entries: KvmMsrEntry[]) => KvmMsrEntry[] | number): Handler {
  return (call) => {
    const head = readArg(call);
    const n = head.nmsrs as number;
    if (n >= MAX_IO_MSRS) fail(Errno.E2BIG, `${n} MSRs in one call`);
    const at = BigInt(call.arg) + BigInt(call.structs.offsetOf(argStruct(call), 'entries'));
    const entries = call.structs.readArray(call.user, 'kvm_msr_entry', at, n);
    const result = op(vcpuOf(call), entries.map((e) => ({ index: e.index as number, data: e.data as bigint })));
    if (typeof result === 'number') return result;
    result.forEach((r, i) => (entries[i].data = r.data));
    if (writeback) call.structs.writeArray(call.user, 'kvm_msr_entry', at, entries);
    return result.length;
  };
}

/** KVM's own MSRs first (kvm/msrs.ts), then the core's; stops at the first unknown index. */
function getMsrs(vcpu: VcpuObject, entries: KvmMsrEntry[]): KvmMsrEntry[] {
  const out: KvmMsrEntry[] = [];
  for (const { index } of entries) {
    const data = vcpu.msrs.read(index >>> 0) ?? vcpu.core.msrs.read(index);
    if (data === undefined) break;
    out.push({ index, data });
  }
  return out;
}

function setMsrs(vcpu: VcpuObject, entries: KvmMsrEntry[]): number {
  let n = 0;
  for (const e of entries) {
    const ok = vcpu.msrs.write(e.index >>> 0, BigInt.asUintN(64, e.data), true) ?? vcpu.core.msrs.write(e.index, e.data, true);
    if (!ok) break;
    n++;
  }
  return n;
}

function setCpuid2(call: Call): number {
  const head = readArg(call);
  const n = head.nent as number;
  if (n > MAX_CPUID_ENTRIES) fail(Errno.E2BIG, `${n} CPUID entries`);
  const at = BigInt(call.arg) + BigInt(call.structs.offsetOf(argStruct(call), 'entries'));
  const entries = call.structs.readArray(call.user, 'kvm_cpuid_entry2', at, n);
  vcpuOf(call).core.setCpuid(entries as unknown as KvmCpuidEntry[]);
  return 0;
}

/** kvm_vcpu_ioctl_get_cpuid2: E2BIG when the table does not fit (header untouched), else entries then header. */
function getCpuid2(call: Call): number {
  const head = readArg(call);
  const entries = vcpuOf(call).core.getCpuid();
  if ((head.nent as number) < entries.length) fail(Errno.E2BIG, `nent ${String(head.nent)} cannot hold ${entries.length} entries`);
  const at = BigInt(call.arg) + BigInt(call.structs.offsetOf(argStruct(call), 'entries'));
  call.structs.writeArray(call.user, 'kvm_cpuid_entry2', at, entries as unknown as Fields[]);
  call.user.write(call.arg, call.structs.encode({ kind: 'struct', name: argStruct(call) }, { ...head, nent: entries.length }, Number(at - BigInt(call.arg))));
  return 0;
}

/** kvm_vcpu_ioctl_x86_set_debugregs: no flags, and DR6/DR7 with their upper halves clear. */
function setDebugRegs(call: Call): number {
  const d = readArg(call);
  if (d.flags !== 0n) fail(Errno.EINVAL, `flags 0x${(d.flags as bigint).toString(16)}`);
  if ((d.dr6 as bigint) >> 32n !== 0n || (d.dr7 as bigint) >> 32n !== 0n) fail(Errno.EINVAL, 'DR6 or DR7 has bits above 31');
  vcpuOf(call).core.setDebugRegs(d as unknown as KvmDebugRegs);
  return 0;
}

function interrupt(call: Call): number {
  const irq = readArg(call).irq as number;
  if (irq >= NR_INTERRUPTS) fail(Errno.EINVAL, `irq ${irq}`);
  // With the 8259 in kernel, interrupts come from it, not from KVM_INTERRUPT.
  if (vcpuOf(call).vm.irqchip) fail(Errno.ENXIO, 'the in-kernel 8259 delivers external interrupts');
  const core = vcpuOf(call).core;
  // The core holds one queued vector and refuses a second (the host kernel measured here accepts it).
  if (core.interruptQueued) fail(Errno.EEXIST, 'an interrupt is already queued');
  core.queueInterrupt(irq);
  vcpuOf(call).events.interruptNr = irq;
  return 0;
}

export const vcpuStateHandlers: Record<string, Handler> = {
  KVM_GET_REGS: (call) => {
    writeArg(call, vcpuOf(call).core.getRegs() as unknown as Fields);
    return 0;
  },
  KVM_SET_REGS: (call) => {
    vcpuOf(call).core.setRegs(readArg(call) as unknown as KvmRegs);
    return 0;
  },
  KVM_GET_SREGS: (call) => {
    writeArg(call, vcpuOf(call).core.getSregs() as unknown as Fields);
    return 0;
  },
  KVM_SET_SREGS: (call) => {
    const s = readArg(call);
    checkSregs(s);
    const vcpu = vcpuOf(call);
    vcpu.core.setSregs(s as unknown as KvmSregs);
    vcpu.stateLoaded = true;
    vcpu.cr8 = s.cr8 as bigint;
    return 0;
  },
  KVM_GET_MSRS: msrIo(true, getMsrs),
  KVM_SET_MSRS: msrIo(false, setMsrs),
  KVM_SET_CPUID2: setCpuid2,
  KVM_GET_CPUID2: getCpuid2,
  KVM_GET_DEBUGREGS: (call) => {
    writeArg(call, vcpuOf(call).core.getDebugRegs() as unknown as Fields);
    return 0;
  },
  KVM_SET_DEBUGREGS: setDebugRegs,
  KVM_GET_FPU: (call) => {
    const fpu = vcpuOf(call).core.getFpu();
    writeArg(call, { ...fpu, fpr: flat(fpu.fpr), xmm: flat(fpu.xmm) } as unknown as Fields);
    return 0;
  },
  KVM_SET_FPU: (call) => {
    const f = readArg(call);
    vcpuOf(call).core.setFpu({ ...f, fpr: split(f.fpr as Uint8Array), xmm: split(f.xmm as Uint8Array) } as unknown as KvmFpu);
    return 0;
  },
  KVM_INTERRUPT: interrupt,
};
