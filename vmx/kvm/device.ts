// Device fds: the VFIO pseudo-device's attributes (group 1, KVM_DEV_VFIO_FILE: add and delete a
// VFIO group fd), with the errnos of virt/kvm/vfio.c on x86.

import { readArg, type Call, type Handler } from './call.js';
import { Errno, fail } from './errors.js';

const KVM_DEV_VFIO_FILE = 1;
const KVM_DEV_VFIO_FILE_ADD = 1;
const KVM_DEV_VFIO_FILE_DEL = 2;

function known(group: number, attr: bigint): boolean {
  return group === KVM_DEV_VFIO_FILE && (attr === BigInt(KVM_DEV_VFIO_FILE_ADD) || attr === BigInt(KVM_DEV_VFIO_FILE_DEL));
}

/**
 * No VFIO groups exist in the emulated world, so ADD never succeeds (an open fd is of the wrong
 * kind: EINVAL; others EBADF) and DEL never finds one (ENOENT for an open fd).
 */
function setAttr(call: Call): number {
  const attr = readArg(call);
  const group = attr.group as number;
  const which = attr.attr as bigint;
  if (!known(group, which)) fail(Errno.ENXIO, `no VFIO attribute ${group}/${which}`);
  const fd = call.structs.decodeAs({ kind: 'scalar', scalar: 's32' }, call.user.read(attr.addr as bigint, 4)) as number;
  if (!call.kvm.isOpen(fd)) fail(Errno.EBADF, `fd ${fd} is not open`);
  fail(which === BigInt(KVM_DEV_VFIO_FILE_ADD) ? Errno.EINVAL : Errno.ENOENT, `fd ${fd} is not a VFIO group`);
}

export const deviceHandlers: Record<string, Handler> = {
  KVM_SET_DEVICE_ATTR: setAttr,
  KVM_HAS_DEVICE_ATTR: (call) => {
    const attr = readArg(call);
    if (!known(attr.group as number, attr.attr as bigint)) fail(Errno.ENXIO, `no VFIO attribute ${String(attr.group)}/${String(attr.attr)}`);
    return 0;
  },
  // The VFIO device has no readable attributes (kvm_device_ioctl_attr without get_attr).
  KVM_GET_DEVICE_ATTR: (call) => {
    readArg(call);
    fail(Errno.EPERM, 'VFIO attributes cannot be read');
  },
};
