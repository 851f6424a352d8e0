// What the recorder and the replayer need to know about HAXM's memory that the schema sets do not
// (yet) say as data: which requests hand user memory to the driver as guest RAM, which map guest
// pages onto that memory, where the driver mapped a vCPU's tunnel and I/O buffer (it maps them itself
// when it creates the vCPU and SETUP_TUNNEL says where: there is no mmap to see), and which bytes of
// the I/O buffer an exit uses. Keyed by family; docs/haxm.md proposes the schema fields that would
// replace this module.

import type { DecodedExit } from '../../schemas/codec.js';
import { typeSize } from '../../schemas/codec.js';
import type { Abi, Direction, SchemaSet } from '../../schemas/model.js';

export interface DriverMemoryFacts {
  /** Requests registering user memory as guest RAM, by name: the argument fields with its address and size. */
  ramBlocks: Record<string, { addr: string; size: string }>;
  /** Requests mapping guest pages onto registered memory, by name: the field with the user address (0 when unmapping). */
  ramMappings: Record<string, { addr: string }>;
  /** The request after which the driver has mapped the run page: its output fields with the run page's and the data page's addresses. */
  runPage: { request: string; field: string; dataField: string };
  /**
   * The part of the data page an exit uses, and its direction as the KVM recorder labels run.io:
   * `out` for data the monitor supplies (IN, MMIO reads), `in` for data the driver wrote.
   */
  exitData(set: SchemaSet, abi: Abi, exit: DecodedExit): { offset: number; length: number; dir: Direction } | undefined;
}

export const DRIVER_MEMORY: Record<string, DriverMemoryFacts> = {
  haxm: {
    ramBlocks: {
      HAX_VM_IOCTL_ALLOC_RAM: { addr: 'va', size: 'size' },
      HAX_VM_IOCTL_ADD_RAMBLOCK: { addr: 'start_va', size: 'size' },
    },
    ramMappings: {
      HAX_VM_IOCTL_SET_RAM: { addr: 'va' },
      HAX_VM_IOCTL_SET_RAM2: { addr: 'va' },
    },
    runPage: { request: 'HAX_VCPU_IOCTL_SETUP_TUNNEL', field: 'va', dataField: 'io_va' },
    exitData(set, abi, exit) {
      if (exit.reason === 'HAX_EXIT_IO') {
        const io = exit.data as Record<string, number>;
        return { offset: 0, length: io._size * io._count, dir: io._direction === set.constants.HAX_IO_IN ? 'out' : 'in' };
      }
      // hax_fastmmio: the driver describes the access, the monitor answers a read in `value`.
      if (exit.reason === 'HAX_EXIT_FAST_MMIO') return { offset: 0, length: typeSize(set, abi, { kind: 'struct', name: 'hax_fastmmio' }), dir: 'inout' };
      return undefined;
    },
  },
};
