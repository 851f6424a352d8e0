// What HAX_IOCTL_CAPABILITY reports for the emulated core: the winfo flags of the features this
// front-end implements, by name (values from the schema set), and the driver's limits.

import type { SchemaSet } from '../../schemas/model.js';

/** hax_module_version: API 4, compatible with monitors of API 1 and later (HAX_CUR_VERSION, HAX_COMPAT_VERSION). */
export const API_VERSION = { cur: 'HAX_CUR_VERSION', compat: 'HAX_COMPAT_VERSION' } as const;

/** VMs the driver hands out ids for (HAX_MAX_VMS on Linux). */
export const MAX_VMS = 64;
/** vCPU ids must be below this (HAX_MAX_VCPUS). */
export const MAX_VCPUS = 16;

/**
 * Offered: EPT (guest memory through EPT-style slots), FASTMMIO (MMIO as hax_fastmmio in the I/O
 * buffer), UG (real mode runs unrestricted, no HAX_EXIT_REALMODE), 64BIT_RAMBLOCK (ADD_RAMBLOCK),
 * 64BIT_SETRAM (SET_RAM2), TUNNEL_PAGE (hax_tunnel and the I/O buffer are whole pages) and
 * RAM_PROTECTION (PROTECT_RAM and HAX_EXIT_PAGEFAULT). A working HAXM also reports DEBUG,
 * IMPLICIT_RAMBLOCK and CPUID; not offered here: the core models no single-step or breakpoints
 * (HAX_IOCTL_VCPU_DEBUG), SET_RAM wants a registered block (no HAX_RAM_INFO_STANDALONE), and the
 * Linux driver's dispatcher has no case for SET_CPUID / GET_CPUID.
 */
const OFFERED = ['HAX_CAP_EPT', 'HAX_CAP_FASTMMIO', 'HAX_CAP_UG', 'HAX_CAP_64BIT_RAMBLOCK', 'HAX_CAP_64BIT_SETRAM', 'HAX_CAP_TUNNEL_PAGE', 'HAX_CAP_RAM_PROTECTION'];

export function offeredFlags(set: SchemaSet): number {
  return OFFERED.reduce((flags, name) => {
    const v = set.constants[name];
    if (v === undefined) throw new Error(`no constant ${name} in ${set.id}`);
    return flags | v;
  }, 0);
}

/** A constant of the set, which must have it. */
export function constant(set: SchemaSet, name: string): number {
  const v = set.constants[name];
  if (v === undefined) throw new Error(`no constant ${name} in ${set.id}`);
  return v;
}
