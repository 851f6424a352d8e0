// kernel-pointer: user pointers (the argument, embedded pointers) in the kernel's half of the
// address space: a monitor bug at best, an exploit attempt at worst.

import { readField } from '../../schemas/codec.js';
import { hex } from '../../schemas/ioc.js';
import type { Rule } from '../rule.js';

/** The first address above user space on x86_64 (47-bit user half). */
const USER_END_64 = 0x0000_8000_0000_0000n;

export const kernelPointer: Rule = {
  ioctl(facts, state, emit) {
    const { schema, set, event } = facts;
    // A 32-bit process can address all 4 GiB as user memory on a 64-bit kernel.
    if (state.abi === 'ilp32' || !schema || schema.arg.kind !== 'pointer') return;
    const arg = BigInt(event.arg);
    if (arg >= USER_END_64) {
      emit({ rule: 'kernel-pointer', severity: 'error', field: 'arg', message: `${schema.name} on ${facts.objectPath}: the argument ${hex(arg)} is a kernel address` });
      return;
    }
    const bytes = facts.region('arg')?.before;
    if (!set || !bytes || schema.arg.type.kind !== 'struct') return;
    for (const planned of facts.plan.slice(1)) {
      const value = readField(set, state.abi, schema.arg.type.name, planned.role, bytes);
      if (value !== undefined && value >= USER_END_64) {
        emit({ rule: 'kernel-pointer', severity: 'error', field: planned.role, message: `${schema.name} on ${facts.objectPath}: ${planned.role} = ${hex(value)} is a kernel address` });
      }
    }
  },
};
