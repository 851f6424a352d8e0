// The HAXM schema sets: the driver's numbering on each OS (Linux _IOC, BSD _IOC on Darwin and NetBSD,
// Windows CTL_CODE), QEMU's copy of the interface beside it, and the unified numbering of HAXM pull
// request 121 with its __LEGACY names. All from ioctlgrind's own declarations in schemas/haxm/,
// measured by the compiler (mingw-w64 for Windows x64).

import type { FamilySetSpec } from './family.js';

const SEMANTICS = 'haxm/semantics.json';

const DRIVER = 'Intel HAXM driver';
const POSIX_LAYOUT = 'laid out by gcc -m64 (the x86_64 System V layout Darwin and NetBSD share for these fixed-width, packed types)';
const WINDOWS_NOTE = 'Windows requests carry no size: sizes are the DeviceIoControl buffer lengths the driver expects, measured with the mingw-w64 compiler; the driver\'s PACKED is empty in its MSVC build, so these structs are naturally aligned there';
const LAYOUT_NOTE = 'ioctlgrind\'s own declarations from the facts: segment_desc_t.ar and vcpu_state_t._interruptibility are whole words (the driver\'s bit-field views of them are not modelled); vcpu_state_t\'s narrower register views (_eax, _ax, ...) are not modelled';
const UNIFIED_NOTE = 'HAXM pull request 121 was never merged; the function code of each request, the POSIX type \'H\' (from the review thread) and the directions are ioctlgrind\'s reading of the proposal\'s rules, not verified against its final diff';

export const HAXM_SETS: FamilySetSpec[] = [
  {
    id: 'haxm-linux', family: 'haxm', os: ['Linux'], pathsKey: 'linux', origin: 'driver',
    description: `${DRIVER} on Linux (/dev/HAX): ioctl type 0, Linux _IOC encoding`,
    header: 'haxm/haxm.h', semantics: SEMANTICS, numbering: 'linux', abis: ['lp64', 'ilp32'],
    notes: [LAYOUT_NOTE],
  },
  {
    id: 'haxm-darwin', family: 'haxm', os: ['Darwin'], pathsKey: 'darwin', origin: 'driver',
    description: `${DRIVER} on macOS (/dev/HAX): ioctl type 0, BSD _IOC encoding (_IOR and _IOW numbers differ from Linux, _IOWR numbers agree)`,
    header: 'haxm/haxm.h', semantics: SEMANTICS, numbering: 'bsd', abis: ['lp64'],
    notes: [POSIX_LAYOUT, LAYOUT_NOTE],
  },
  {
    id: 'haxm-netbsd', family: 'haxm', os: ['NetBSD'], pathsKey: 'netbsd', origin: 'driver',
    description: `${DRIVER} on NetBSD (/dev/HAX): ioctl type 0, BSD _IOC encoding`,
    header: 'haxm/haxm.h', semantics: SEMANTICS, numbering: 'bsd', abis: ['lp64'],
    notes: [POSIX_LAYOUT, LAYOUT_NOTE, 'that the NetBSD port defines every request of the Darwin one, with the same device paths, is not verified'],
  },
  {
    id: 'haxm-windows', family: 'haxm', os: ['Windows'], pathsKey: 'windows', origin: 'driver',
    description: `${DRIVER} on Windows (\\\\.\\HAX): CTL_CODE(0x4000, fn, METHOD_BUFFERED, FILE_ANY_ACCESS)`,
    header: 'haxm/haxm.h', semantics: SEMANTICS, numbering: 'windows', abis: ['llp64'],
    notes: [WINDOWS_NOTE, LAYOUT_NOTE],
  },
  {
    id: 'haxm-qemu-linux', family: 'haxm', os: ['Linux'], pathsKey: 'linux', origin: 'monitor',
    description: 'QEMU\'s copy of the HAXM interface (target/i386/hax) on Linux: API v1/v2 and ADD_RAMBLOCK, VCPU_DESTROY as _IOW, a 48-byte hax_tunnel',
    header: 'haxm/haxm-qemu.h', semantics: SEMANTICS, numbering: 'linux', abis: ['lp64', 'ilp32'],
    notes: [LAYOUT_NOTE, 'QEMU\'s copy as ioctlgrind\'s facts describe it (requests, hax_tunnel without pagefault, debug and apic_base, fx_layout aligned to 8); its other structs are taken to match the driver\'s'],
  },
  {
    id: 'haxm-qemu-darwin', family: 'haxm', os: ['Darwin'], pathsKey: 'darwin', origin: 'monitor',
    description: 'QEMU\'s copy of the HAXM interface on macOS: the same POSIX header through the BSD _IOC encoding',
    header: 'haxm/haxm-qemu.h', semantics: SEMANTICS, numbering: 'bsd', abis: ['lp64'],
    notes: [POSIX_LAYOUT],
  },
  {
    id: 'haxm-qemu-windows', family: 'haxm', os: ['Windows'], pathsKey: 'windows', origin: 'monitor',
    description: 'QEMU\'s copy of the HAXM interface on Windows (hax-windows.h)',
    header: 'haxm/haxm-qemu.h', semantics: SEMANTICS, numbering: 'windows', abis: ['llp64'],
    notes: [WINDOWS_NOTE],
  },
  {
    id: 'haxm-unified-linux', family: 'haxm', os: ['Linux'], pathsKey: 'linux', origin: 'proposal',
    description: 'The unified HAXM numbering proposed in pull request 121 (never merged), on Linux, with the legacy numbers as NAME__LEGACY',
    header: 'haxm/haxm-unified.h', semantics: SEMANTICS, numbering: 'linux', abis: ['lp64', 'ilp32'],
    notes: [UNIFIED_NOTE],
  },
  {
    id: 'haxm-unified-darwin', family: 'haxm', os: ['Darwin'], pathsKey: 'darwin', origin: 'proposal',
    description: 'The unified HAXM numbering of pull request 121 on macOS (BSD _IOC), with the legacy numbers as NAME__LEGACY',
    header: 'haxm/haxm-unified.h', semantics: SEMANTICS, numbering: 'bsd', abis: ['lp64'],
    notes: [UNIFIED_NOTE, POSIX_LAYOUT],
  },
  {
    id: 'haxm-unified-windows', family: 'haxm', os: ['Windows'], pathsKey: 'windows', origin: 'proposal',
    description: 'The unified HAXM numbering of pull request 121 on Windows (function codes OR-ed with 0x800), with the legacy codes as NAME__LEGACY',
    header: 'haxm/haxm-unified.h', semantics: SEMANTICS, numbering: 'windows', abis: ['llp64'],
    notes: [UNIFIED_NOTE, WINDOWS_NOTE],
  },
];
