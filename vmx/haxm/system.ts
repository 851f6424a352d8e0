// /dev/HAX ioctls: the API version, the capabilities, the memory limit and VM creation (the VM is
// then opened by path), as hax_dev_ioctl and intel/haxm's core answer them.

import { Errno, fail } from '../kvm/errors.js';
import { readArg, writeArg, writeScalar, type Handler } from './call.js';
import { API_VERSION, constant, MAX_VMS, offeredFlags } from './capabilities.js';

const MIB_SHIFT = 20n;

export const systemHandlers: Record<string, Handler> = {
  HAX_IOCTL_VERSION: (call) => {
    const set = call.structs.set;
    writeArg(call, { compat_version: constant(set, API_VERSION.compat), cur_version: constant(set, API_VERSION.cur) });
    return 0;
  },
  // hax_get_capability: working; a memory quota only once SET_MEMLIMIT set one; win_refcount is never filled.
  HAX_IOCTL_CAPABILITY: (call) => {
    const set = call.structs.set;
    const limit = call.haxm.memoryLimit;
    const wstatus = constant(set, 'HAX_CAP_STATUS_WORKING') | (limit > 0n ? constant(set, 'HAX_CAP_MEMQUOTA') : 0);
    writeArg(call, { wstatus, winfo: offeredFlags(set), win_refcount: 0, mem_quota: limit });
    return 0;
  },
  // hax_set_memlimit: refused once a VM exists; memory_limit is in MiB.
  HAX_IOCTL_SET_MEMLIMIT: (call) => {
    const m = readArg(call);
    if (call.haxm.vmCount() > 0) fail(Errno.EINVAL, 'a VM exists');
    call.haxm.memoryLimit = m.enable_memlimit !== 0 ? BigInt.asUintN(64, (m.memory_limit as bigint) << MIB_SHIFT) : 0n;
    return 0;
  },
  HAX_IOCTL_CREATE_VM: (call) => {
    // hax_create_vm takes the lowest free id; the Linux driver says ENOMEM when there is none.
    const id = call.haxm.createVm();
    if (id === undefined) fail(Errno.ENOMEM, `all ${MAX_VMS} VM ids are in use`);
    writeScalar(call, id);
    return 0;
  },
};
