/**
 * Control transfers out of the middle of an instruction, thrown as plain objects (not Errors:
 * no stack capture on a path guests take for every page fault).
 */
import type { VmExit } from '../exits.js';

export const Vec = { DE: 0, DB: 1, NMI: 2, BP: 3, OF: 4, BR: 5, UD: 6, NM: 7, DF: 8, TS: 10, NP: 11, SS: 12, GP: 13, PF: 14, MF: 16, AC: 17 } as const;

/** An exception the guest sees. `errorCode` is undefined for vectors that push none. */
export class GuestFault {
  constructor(
    readonly vector: number,
    readonly errorCode: number | undefined,
  ) {}
}

/** Stop the run and hand `exit` to the VMX layer. */
export class ExitRequest {
  constructor(readonly exit: VmExit) {}
}

export const gp = (code = 0): GuestFault => new GuestFault(Vec.GP, code);
export const ud = (): GuestFault => new GuestFault(Vec.UD, undefined);
