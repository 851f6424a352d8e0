// How a handler fails: with the errno KVM gives for the same input.

import { constants } from 'node:os';

export const Errno = constants.errno;

export class KvmErrno extends Error {
  constructor(
    readonly errno: number,
    why: string,
  ) {
    super(why);
  }
}

/** Ends the call with `errno`; `why` is for whoever debugs the front-end. */
export function fail(errno: number, why: string): never {
  throw new KvmErrno(errno, why);
}
