// VM ioctls besides RAM: vCPU creation (the vCPU is then opened by path) and the monitor's version.

import { Errno, fail } from '../kvm/errors.js';
import { readArg, readScalar, type HaxmCall, type Handler } from './call.js';
import { MAX_VCPUS } from './capabilities.js';
import { VcpuObject, type VmObject } from './objects.js';
import { ramHandlers } from './ram.js';

const vmOf = (call: HaxmCall): VmObject => call.object as VmObject;

/**
 * vcpu_create: an id below HAX_MAX_VCPUS not yet taken (the Linux driver says EINVAL for any
 * failure); the new vCPU's tunnel is mapped into the process at once.
 */
function createVcpu(call: HaxmCall): number {
  const vm = vmOf(call);
  const id = readScalar(call);
  if (id >= MAX_VCPUS) fail(Errno.EINVAL, `vcpu id ${id} is not below ${MAX_VCPUS}`);
  if (vm.vcpus.has(id)) fail(Errno.EINVAL, `vcpu ${id} exists`);
  const vcpu = new VcpuObject(vm, id, call.user);
  call.haxm.mapTunnel(vcpu);
  vm.vcpus.set(id, vcpu);
  return 0;
}

/** hax_vm_set_qemuversion: the driver only notes which fast-MMIO features the monitor understands; it never fails. */
function notifyQemuVersion(call: HaxmCall): number {
  const v = readArg(call);
  vmOf(call).qemuVersion = { cur: v.cur_version as number, least: v.least_version as number };
  return 0;
}

export const vmHandlers: Record<string, Handler> = {
  ...ramHandlers,
  HAX_VM_IOCTL_VCPU_CREATE: createVcpu,
  HAX_VM_IOCTL_VCPU_CREATE_ORIG: createVcpu,
  HAX_VM_IOCTL_NOTIFY_QEMU_VERSION: notifyQemuVersion,
};
