// The front-end's only way into user memory: copy_from_user / copy_to_user lookalikes that fail
// with EFAULT on unmapped memory and log every byte they touch, so that an in-process trace of the
// emulated core carries exact read and write sets. The kvm_run page, which the kernel writes
// directly, goes through the same log at the address it is mapped at.

import type { AddressSpace, UserAccess } from '../driver.js';
import { Errno, fail } from './errors.js';

/** Addresses a process can hold: below the x86-64 user limit (TASK_SIZE). */
export const TASK_SIZE = 0x7ffffffff000;

export class UserMemory {
  private log: UserAccess[] = [];

  constructor(readonly space: AddressSpace) {}

  /** Starts the log of a new call. */
  begin(): void {
    this.log = [];
  }

  accesses(): readonly UserAccess[] {
    return this.log;
  }

  /** copy_from_user: `length` bytes at `addr`, or EFAULT. */
  read(addr: number | bigint, length: number): Uint8Array {
    const at = this.checked(addr, length);
    this.log.push({ addr: at, length, write: false });
    return this.space.read(at, length);
  }

  /** copy_to_user: all of `bytes` at `addr`, or EFAULT. */
  write(addr: number | bigint, bytes: Uint8Array): void {
    const at = this.checked(addr, bytes.length);
    this.log.push({ addr: at, length: bytes.length, write: true });
    this.space.store(at, bytes);
  }

  /** A kernel page shared with user space through mmap (kvm_run), logged where it is mapped. */
  logShared(addr: number | undefined, length: number, write: boolean): void {
    if (addr !== undefined && length > 0) this.log.push({ addr, length, write });
  }

  private checked(addr: number | bigint, length: number): number {
    const at = Number(addr);
    if (at < 0 || at + length > TASK_SIZE || !this.space.mapped(at, length)) fail(Errno.EFAULT, `user memory 0x${at.toString(16)}+${length} is not mapped`);
    return at;
  }
}
