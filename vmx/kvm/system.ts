// /dev/kvm ioctls: version, capabilities, VM creation, the run-page size, supported CPUID and the
// system attribute (KVM_X86_XCOMP_GUEST_SUPP).

import { PAGE_SIZE } from '../driver.js';
import { argStruct, argValue, readArg, type Call, type Handler } from './call.js';
import { Errno, fail } from './errors.js';
import { RUN_PAGES, VmObject } from './objects.js';
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
};
