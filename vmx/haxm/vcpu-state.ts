// vCPU state ioctls: registers (vcpu_state_t), MSRs (hax_msr_data, nr_msr below HAX_MAX_MSR_ARRAY),
// the FPU (fx_layout) and INTERRUPT, each copying user memory as the Linux driver does.

import { Errno, fail } from '../kvm/errors.js';
import { readArg, readScalar, writeArg, type Fields, type HaxmCall, type Handler } from './call.js';
import { constant } from './capabilities.js';
import type { VcpuObject } from './objects.js';
import { fpuOf, fxLayoutOf, loadState, stateOf } from './state.js';

const vcpuOf = (call: HaxmCall): VcpuObject => call.object as VcpuObject;

/**
 * The Linux driver reads the whole hax_msr_data, refuses nr_msr >= HAX_MAX_MSR_ARRAY with EFAULT (its
 * choice of errno), handles entries up to the first failure and counts them in `done`; only GET_MSRS
 * copies the struct back (SET_MSRS's `done` never reaches the caller).
 */
function msrIo(get: boolean): Handler {
  return (call) => {
    const data = readArg(call);
    const n = data.nr_msr as number;
    if (n >= constant(call.structs.set, 'HAX_MAX_MSR_ARRAY')) fail(Errno.EFAULT, `nr_msr ${n} is not below HAX_MAX_MSR_ARRAY`);
    const core = vcpuOf(call).core;
    const entries = data.entries as Fields[];
    let done = 0;
    for (; done < n; done++) {
      const e = entries[done];
      const index = Number(e.entry as bigint);
      if (get) {
        const value = core.rdmsr(index);
        if (value === undefined) break;
        e.value = value;
      } else if (core.setMsrs([{ index, data: e.value as bigint }]) !== 1) break;
    }
    if (get) writeArg(call, { ...data, done });
    return 0;
  };
}

/**
 * vcpu_interrupt sets the vector's bit in the driver's pending bitmap (it never fails); the
 * vectors reach the core one at a time before the runs (see run.ts).
 */
function interrupt(call: HaxmCall): number {
  vcpuOf(call).interrupts.add(readScalar(call, true));
  return 0;
}

export const vcpuStateHandlers: Record<string, Handler> = {
  HAX_VCPU_GET_REGS: (call) => {
    writeArg(call, stateOf(vcpuOf(call).core));
    return 0;
  },
  HAX_VCPU_SET_REGS: (call) => {
    const vcpu = vcpuOf(call);
    loadState(vcpu.core, readArg(call));
    // New state from outside: a vCPU stopped by a triple fault runs again.
    vcpu.stopped = false;
    return 0;
  },
  HAX_VCPU_IOCTL_GET_MSRS: msrIo(true),
  HAX_VCPU_IOCTL_SET_MSRS: msrIo(false),
  HAX_VCPU_IOCTL_GET_FPU: (call) => {
    writeArg(call, fxLayoutOf(vcpuOf(call).core.getFpu()));
    return 0;
  },
  HAX_VCPU_IOCTL_SET_FPU: (call) => {
    vcpuOf(call).core.setFpu(fpuOf(readArg(call)));
    return 0;
  },
  HAX_VCPU_IOCTL_INTERRUPT: interrupt,
};
