// The Xen privcmd schema set (/dev/xen/privcmd) for x86_64 and i386, from ioctlgrind's own
// declarations in schemas/xen/privcmd.h.

import type { FamilySetSpec } from './family.js';

export const XEN_SETS: FamilySetSpec[] = [
  {
    id: 'xen-privcmd', family: 'xen-privcmd', os: ['Linux'], pathsKey: 'linux', origin: 'driver',
    description: 'Xen privcmd on Linux (/dev/xen/privcmd, type \'P\'): mostly _IOC(_IOC_NONE, ...) numbers whose size changes between x86_64 and i386',
    header: 'xen/privcmd.h', semantics: 'xen/semantics.json', numbering: 'linux', abis: ['lp64', 'ilp32'],
  },
];
