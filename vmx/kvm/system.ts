// /dev/kvm ioctls: version, capabilities, VM creation, the run-page size, supported CPUID and the
// system attribute (KVM_X86_XCOMP_GUEST_SUPP).

import { PAGE_SIZE } from '../driver.js';
import { argStruct, argValue, readArg, type Call, type Handler } from './call.js';
import { Errno, fail } from './errors.js';
import { RUN_PAGES, VcpuObject, VmObject } from './objects.js';
import { SUPPORTED_CPUID } from './supported-cpuid.js';

/** KVM_MAX_CPUID_ENTRIES. */
export const MAX_CPUID_ENTRIES = 256;
/** XSAVE components a guest may enable: x87 and SSE state only (the core keeps it as bytes). */
const XCOMP_GUEST_SUPP = 0x3n;

function checkExtension(call: Call): number {
  return call.kvm.capabilities.get(argValue(call)) ?? 0;
}

function getSupportedCpuid(call: Call): number {
  const struct = argStruct(call);
  const head = readArg(call);
  const capacity = Math.min(head.nent as number, MAX_CPUID_ENTRIES);
  if (capacity < 1 || SUPPORTED_CPUID.length > capacity) fail(Errno.E2BIG, `nent ${String(head.nent)} cannot hold ${SUPPORTED_CPUID.length} entries`);
  const entries = call.structs.offsetOf(struct, 'entries');
  call.structs.writeArray(call.user, 'kvm_cpuid_entry2', BigInt(call.arg) + BigInt(entries), SUPPORTED_CPUID.map((e) => ({ ...e })));
  // The header goes back last, as KVM copies it after the entries.
  call.user.write(call.arg, call.structs.encode({ kind: 'struct', name: struct }, { nent: SUPPORTED_CPUID.length, padding: head.padding }, entries));
  return 0;
}

/** /dev/kvm attributes: group 0 attr 0 is KVM_X86_XCOMP_GUEST_SUPP, a u64 read through addr. */
function systemAttr(write: boolean): Handler {
  return (call) => {
    const attr = readArg(call);
    if (attr.group !== 0 || attr.attr !== 0n) fail(Errno.ENXIO, `no system attribute ${String(attr.group)}/${String(attr.attr)}`);
    if (write) call.user.write(attr.addr as bigint, call.structs.encode({ kind: 'scalar', scalar: 'u64' }, XCOMP_GUEST_SUPP, 8));
    return 0;
  };
}

/** KVM_GET_MSR_INDEX_LIST: the MSRs a vCPU of the emulated core keeps (the core's and KVM's own). */
function msrIndexList(): number[] {
  const vm = new VmObject();
  const vcpu = new VcpuObject(vm, 0, undefined as never);
  vcpu.msrs.setupMce(0x100010an);
  return [...new Set([...vcpu.core.msrs.indices(), ...vcpu.msrs.indices()])];
}

/** Feature MSRs (KVM_GET_MSR_FEATURE_INDEX_LIST, KVM_GET_MSRS on /dev/kvm): what the emulated CPU offers. */
const FEATURE_MSRS = new Map<number, bigint>([
  [0x10a, 0n], // IA32_ARCH_CAPABILITIES: none
  [0x8b, 0x100000000n], // microcode revision
  [0x345, 0n], // IA32_PERF_CAPABILITIES: none
]);

/** kvm_arch_dev_ioctl's list copy: the count goes back first; E2BIG when the caller's array is short. */
function msrList(list: () => number[]): Handler {
  return (call) => {
    const head = readArg(call);
    const n = head.nmsrs as number;
    const indices = list();
    const at = BigInt(call.arg) + BigInt(call.structs.offsetOf(argStruct(call), 'indices'));
    call.user.write(call.arg, call.structs.encode({ kind: 'scalar', scalar: 'u32' }, indices.length, 4));
    if (n < indices.length) fail(Errno.E2BIG, `${n} entries cannot hold ${indices.length} MSRs`);
    const out = new Uint8Array(indices.length * 4);
    const v = new DataView(out.buffer);
    indices.forEach((i, k) => v.setUint32(k * 4, i >>> 0, true));
    call.user.write(at, out);
    return 0;
  };
}

/** KVM_GET_MSRS on /dev/kvm: feature MSRs, entries read whole and written back, up to the first unknown. */
function getFeatureMsrs(call: Call): number {
  const head = readArg(call);
  const n = head.nmsrs as number;
  if (n >= 256) fail(Errno.E2BIG, `${n} MSRs in one call`);
  const at = BigInt(call.arg) + BigInt(call.structs.offsetOf(argStruct(call), 'entries'));
  const entries = call.structs.readArray(call.user, 'kvm_msr_entry', at, n);
  let done = 0;
  for (const e of entries) {
    const v = FEATURE_MSRS.get(e.index as number);
    if (v === undefined) break;
    e.data = v;
    done++;
  }
  call.structs.writeArray(call.user, 'kvm_msr_entry', at, entries);
  return done;
}

export const systemHandlers: Record<string, Handler> = {
  KVM_GET_API_VERSION: () => 12,
  KVM_CHECK_EXTENSION: checkExtension,
  KVM_CREATE_VM: (call) => {
    if (argValue(call) !== 0) fail(Errno.EINVAL, `machine type ${argValue(call)}: only 0 (the default) exists`);
    return call.kvm.install(new VmObject());
  },
  KVM_GET_VCPU_MMAP_SIZE: () => RUN_PAGES * PAGE_SIZE,
  KVM_GET_SUPPORTED_CPUID: getSupportedCpuid,
  KVM_GET_DEVICE_ATTR: systemAttr(true),
  KVM_HAS_DEVICE_ATTR: systemAttr(false),
  KVM_GET_MSR_INDEX_LIST: msrList(msrIndexList),
  KVM_GET_MSR_FEATURE_INDEX_LIST: msrList(() => [...FEATURE_MSRS.keys()]),
  KVM_GET_MSRS: getFeatureMsrs,
  // MCG_CTL_P | MCG_SER_P and 32 banks: what KVM_X86_SETUP_MCE accepts here.
  KVM_X86_GET_MCE_CAP_SUPPORTED: (call) => {
    call.user.write(call.arg, call.structs.encode({ kind: 'scalar', scalar: 'u64' }, 0x1000100n | 32n, 8));
    return 0;
  },
};
