// The MSHV schema sets: upstream mshv_root, the mshv_vtl interface with MSHV_CHECK_EXTENSION, and
// the 2020 RFC's version handshake, from ioctlgrind's own declarations in schemas/mshv/.

import type { FamilySetSpec } from './family.js';

const SEMANTICS = 'mshv/semantics.json';

export const MSHV_SETS: FamilySetSpec[] = [
  {
    id: 'mshv-root', family: 'mshv', os: ['Linux'], pathsKey: 'linux', origin: 'driver',
    description: 'Microsoft Hypervisor root partition (Linux mshv_root, uapi mshv.h, type 0xB8): /dev/mshv, partition and VP fds, each numbering from 0',
    header: 'mshv/mshv-root.h', semantics: SEMANTICS, numbering: 'linux', abis: ['lp64', 'ilp32'],
    notes: ['mshv_root is built for x86_64 and arm64 only; the i386 layouts show what a 32-bit caller would send', 'the kernel versions of each step of the interface\'s history are not verified'],
  },
  {
    id: 'mshv-vtl', family: 'mshv', os: ['Linux'], pathsKey: 'linux', origin: 'driver',
    description: 'Microsoft Hypervisor VTL2 interface (Linux mshv_vtl): MSHV_CHECK_EXTENSION on /dev/mshv, VTL fds, /dev/mshv_sint, /dev/mshv_hvcall',
    header: 'mshv/mshv-vtl.h', semantics: SEMANTICS, numbering: 'linux', abis: ['lp64'],
    notes: ['hv_register_assoc is declared as 32 packed bytes (name, reserved, value as two u64); its inner union is not modelled'],
  },
  {
    id: 'mshv-rfc2020', family: 'mshv', os: ['Linux'], pathsKey: 'linux', origin: 'history',
    description: 'The 2020 RFC of /dev/mshv: MSHV_REQUEST_VERSION, replaced in review by MSHV_CHECK_EXTENSION at the same number',
    header: 'mshv/mshv-rfc2020.h', semantics: SEMANTICS, numbering: 'linux', abis: ['lp64'],
    notes: ['only the version handshake is described; the RFC\'s other requests and their numbers are not part of ioctlgrind\'s facts'],
  },
];
