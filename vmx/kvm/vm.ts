// VM ioctls: memory slots (with KVM's checks and errnos), the TSS address, vCPU and device
// creation, the dirty log.

import { PAGE_SIZE } from '../driver.js';
import { argValue, readArg, writeArg, type Call, type Handler } from './call.js';
import { MAX_VCPU_IDS, MAX_VCPUS, USER_MEM_SLOTS } from './capabilities.js';
import { Errno, fail } from './errors.js';
import { DeviceObject, VcpuObject, VmObject, type UserSlot } from './objects.js';
import { TASK_SIZE } from './user-memory.js';

const KVM_MEM_LOG_DIRTY_PAGES = 1;
const KVM_MEM_READONLY = 2;
const KVM_CREATE_DEVICE_TEST = 1;

const vmOf = (call: Call): VmObject => call.object as VmObject;

/** KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2's options as enabled (0 when not). */
const manualProtect = (call: Call): bigint => vmOf(call).enabledCaps.get(call.structs.set.constants.KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 ?? -1) ?? 0n;

/** __kvm_set_memory_region's checks, in its order, then create, move, change flags or delete. */
function setUserMemoryRegion(call: Call): number {
  const vm = vmOf(call);
  const r = readArg(call);
  const flags = r.flags as number;
  const size = r.memory_size as bigint;
  const gpa = r.guest_phys_addr as bigint;
  const uaddr = r.userspace_addr as bigint;
  const id = (r.slot as number) & 0xffff;
  const page = BigInt(PAGE_SIZE);
  if (flags & ~(KVM_MEM_LOG_DIRTY_PAGES | KVM_MEM_READONLY)) fail(Errno.EINVAL, `unknown flags 0x${flags.toString(16)}`);
  if (size % page !== 0n) fail(Errno.EINVAL, 'memory_size is not page aligned');
  if (gpa % page !== 0n) fail(Errno.EINVAL, 'guest_phys_addr is not page aligned');
  if (uaddr % page !== 0n || uaddr + size > BigInt(TASK_SIZE)) fail(Errno.EINVAL, 'userspace_addr is not an aligned user address');
  if ((r.slot as number) >>> 16 !== 0 || id >= USER_MEM_SLOTS) fail(Errno.EINVAL, `slot ${r.slot as number} is out of range`);
  if (gpa + size >= 1n << 64n) fail(Errno.EINVAL, 'the slot wraps around');
  const old = vm.slots.get(id);
  const slot: UserSlot = { slot: id, flags, gpa: Number(gpa), size: Number(size), uaddr: Number(uaddr) };
  if (size === 0n) {
    if (!old) fail(Errno.EINVAL, `slot ${id} does not exist`);
    vm.slots.delete(id);
    vm.machine.setSlot({ slot: id, gpa: 0, size: 0 });
    return 0;
  }
  if (old) {
    if (old.uaddr !== slot.uaddr || old.size !== slot.size || ((old.flags ^ flags) & KVM_MEM_READONLY) !== 0) fail(Errno.EINVAL, `slot ${id} may only move or change its dirty logging`);
    if (old.gpa === slot.gpa && old.flags === flags) return 0;
  }
  if (!old || old.gpa !== slot.gpa) {
    const clash = [...vm.slots.values()].find((s) => s.slot !== id && slot.gpa < s.gpa + s.size && s.gpa < slot.gpa + slot.size);
    if (clash) fail(Errno.EEXIST, `slot ${id} overlaps slot ${clash.slot}`);
  }
  // The core needs the bytes now; KVM would fault them in at run time and fail KVM_RUN instead.
  const backing = call.user.space.view(slot.uaddr, slot.size);
  if (!backing) fail(Errno.EFAULT, `userspace_addr 0x${slot.uaddr.toString(16)}+0x${slot.size.toString(16)} is not one mapping`);
  if (flags & KVM_MEM_LOG_DIRTY_PAGES) {
    slot.lastLogged = backing.slice();
    // KVM_DIRTY_LOG_INITIALLY_SET: every page starts dirty (a copy no page matches).
    if (manualProtect(call) & 2n) slot.lastLogged = backing.map((b) => b ^ 0xff);
  }
  vm.slots.set(id, slot);
  vm.machine.setSlot({ slot: id, gpa: slot.gpa, size: slot.size, backing, readonly: (flags & KVM_MEM_READONLY) !== 0 });
  return 0;
}

/** Checked as KVM checks it and kept; the core runs real mode itself and needs no TSS there. */
function setTssAddr(call: Call): number {
  const addr = argValue(call);
  // Three pages below 4 GiB.
  if (addr > 0x1_0000_0000 - 3 * PAGE_SIZE) fail(Errno.EINVAL, `TSS at 0x${addr.toString(16)} does not fit below 4 GiB`);
  vmOf(call).tssAddr = addr;
  return 0;
}

function createVcpu(call: Call): number {
  const vm = vmOf(call);
  const id = argValue(call);
  const limit = vm.maxVcpuIds || MAX_VCPU_IDS;
  if (id >= limit) fail(Errno.EINVAL, `vcpu id ${id} is not below ${limit}`);
  if (vm.vcpus.size >= MAX_VCPUS) fail(Errno.EINVAL, 'too many vcpus');
  if (vm.vcpus.has(id)) fail(Errno.EEXIST, `vcpu ${id} exists`);
  const vcpu = new VcpuObject(vm, id, call.user);
  vm.vcpus.set(id, vcpu);
  return call.kvm.install(vcpu);
}

/**
 * The pages of the slot whose bytes the guest changed since the last call, one bit each. The core
 * keeps no dirty bits, so this compares contents (the monitor's writes go into the comparison copy
 * too): a page the guest rewrote with the same bytes is not reported, where KVM would report it.
 */
function getDirtyLog(call: Call): number {
  const vm = vmOf(call);
  const r = readArg(call);
  const id = (r.slot as number) & 0xffff;
  if ((r.slot as number) >>> 16 !== 0 || id >= USER_MEM_SLOTS) fail(Errno.EINVAL, `slot ${r.slot as number} is out of range`);
  const slot = vm.slots.get(id);
  if (!slot?.lastLogged) fail(Errno.ENOENT, `slot ${id} does not log dirty pages`);
  const now = call.user.space.view(slot.uaddr, slot.size)!;
  const pages = slot.size / PAGE_SIZE;
  const bitmap = new Uint8Array(Math.ceil(pages / 64) * 8);
  for (let p = 0; p < pages; p++) {
    const a = now.subarray(p * PAGE_SIZE, (p + 1) * PAGE_SIZE);
    const b = slot.lastLogged.subarray(p * PAGE_SIZE, (p + 1) * PAGE_SIZE);
    // Compared natively: a callback per byte cost more than the rest of the call.
    if (Buffer.compare(a, b) !== 0) bitmap[p >> 3] |= 1 << (p & 7);
  }
  call.user.write(r.dirty_bitmap as bigint, bitmap);
  // With KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE the bits stay until KVM_CLEAR_DIRTY_LOG (not implemented).
  if ((manualProtect(call) & 1n) === 0n) slot.lastLogged = now.slice();
  return 0;
}

function createDevice(call: Call): number {
  const vm = vmOf(call);
  const cd = readArg(call);
  const type = Object.entries(call.structs.set.deviceTypes ?? {}).find(([, v]) => v === cd.type)?.[0];
  // The only device type the front-end implements on x86.
  if (type !== 'vfio') fail(Errno.ENODEV, `device type ${String(cd.type)} is not available`);
  if ((cd.flags as number) & KVM_CREATE_DEVICE_TEST) {
    writeArg(call, cd);
    return 0;
  }
  if (vm.devices.some((d) => d.deviceType === 'vfio')) fail(Errno.EBUSY, 'the VM already has a VFIO device');
  const device = new DeviceObject(type);
  vm.devices.push(device);
  writeArg(call, { ...cd, fd: call.kvm.install(device) });
  return 0;
}

export const vmHandlers: Record<string, Handler> = {
  KVM_CHECK_EXTENSION: (call) => call.kvm.capabilities.get(argValue(call)) ?? 0,
  KVM_SET_USER_MEMORY_REGION: setUserMemoryRegion,
  KVM_SET_TSS_ADDR: setTssAddr,
  KVM_CREATE_VCPU: createVcpu,
  KVM_GET_DIRTY_LOG: getDirtyLog,
  KVM_CREATE_DEVICE: createDevice,
};
