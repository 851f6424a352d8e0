// Guest RAM: RAM blocks registered by ALLOC_RAM / ADD_RAMBLOCK, guest-physical pages mapped onto
// them by SET_RAM / SET_RAM2 (ROM, and INVALID to unmap), pages protected by PROTECT_RAM, with the
// checks and errnos of intel/haxm's handle_alloc_ram, ramblock_add, handle_set_ram,
// memslot_set_mapping and gpa_space_protect_range. The core sees the result as slots: one per run
// of pages with the same backing and protection.

import { PAGE_SIZE } from '../driver.js';
import { Errno, fail } from '../kvm/errors.js';
import { Perm } from '../index.js';
import { readArg, type HaxmCall, type Handler } from './call.js';
import { constant } from './capabilities.js';
import type { RamMapping, VmObject } from './objects.js';

const PAGE_SHIFT = 12n;

const vmOf = (call: HaxmCall): VmObject => call.object as VmObject;

/** handle_alloc_ram: a non-zero address and size, no overlap with a block (ramblock_add); alignment is not checked. */
function addRamBlock(call: HaxmCall, va: bigint, size: bigint): number {
  const vm = vmOf(call);
  if (va === 0n) fail(Errno.EINVAL, 'start_uva == 0');
  if (size === 0n) fail(Errno.EINVAL, 'size == 0');
  const start = Number(va);
  const end = start + Number(size);
  if (vm.blocks.some((b) => start < b.va + b.size && b.va < end)) fail(Errno.EINVAL, `RAM block 0x${start.toString(16)} overlaps a registered one`);
  vm.blocks.push({ va: start, size: Number(size) });
  return 0;
}

interface SetRam {
  gpa: bigint;
  size: bigint;
  va: bigint;
  flags: number;
}

/**
 * handle_set_ram (SET_RAM and SET_RAM2 alike): INVALID alone with va 0 unmaps; anything else maps
 * whole pages (the gpa and size are cut to pages, as the driver shifts them) onto the block
 * holding va, read-only with ROM.
 */
function setRam(call: HaxmCall, r: SetRam): number {
  const vm = vmOf(call);
  const set = call.structs.set;
  const invalid = constant(set, 'HAX_RAM_INFO_INVALID');
  const unmap = (r.flags & invalid) !== 0;
  if (unmap && (r.flags !== invalid || r.va !== 0n)) fail(Errno.EINVAL, `flags 0x${r.flags.toString(16)} or va 0x${r.va.toString(16)} for an unmapping`);
  if (!unmap && r.va === 0n) fail(Errno.EINVAL, 'cannot map to va 0');
  if (r.size === 0n) fail(Errno.EINVAL, 'size == 0');
  const firstPage = Number(r.gpa >> PAGE_SHIFT);
  const pages = Number(r.size >> PAGE_SHIFT);
  if (pages === 0) fail(Errno.EINVAL, 'less than a page');
  const gpa = firstPage * PAGE_SIZE;
  const size = pages * PAGE_SIZE;
  // The protection bitmap grows to cover every page ever named (gpa_space_adjust_prot_bitmap).
  vm.protectableEnd = Math.max(vm.protectableEnd, firstPage + pages);
  if (unmap) {
    unmapPages(vm, gpa, size);
    rebuildSlots(vm, call);
    return 0;
  }
  const va = Number(r.va);
  if (!vm.blocks.some((b) => va >= b.va && va < b.va + b.size)) fail(Errno.EINVAL, `va 0x${va.toString(16)} is not in a RAM block`);
  // Not checked by the driver, which would fault later; the core needs the bytes now.
  if (!vm.blocks.some((b) => va >= b.va && va + size <= b.va + b.size)) fail(Errno.EINVAL, `va 0x${va.toString(16)}+0x${size.toString(16)} runs past its RAM block`);
  if (!call.user.space.view(va, size)) fail(Errno.EFAULT, `va 0x${va.toString(16)}+0x${size.toString(16)} is not one mapping`);
  unmapPages(vm, gpa, size);
  vm.mappings.push({ gpa, size, va, rom: (r.flags & constant(set, 'HAX_RAM_INFO_ROM')) !== 0 });
  vm.mappings.sort((a, b) => a.gpa - b.gpa);
  rebuildSlots(vm, call);
  return 0;
}

/** Drops [gpa, gpa+size) from the mappings, keeping what lies on either side. */
function unmapPages(vm: VmObject, gpa: number, size: number): void {
  const end = gpa + size;
  vm.mappings = vm.mappings.flatMap((m) => {
    const mEnd = m.gpa + m.size;
    if (mEnd <= gpa || m.gpa >= end) return [m];
    const kept: RamMapping[] = [];
    if (m.gpa < gpa) kept.push({ ...m, size: gpa - m.gpa });
    if (mEnd > end) kept.push({ ...m, gpa: end, size: mEnd - end, va: m.va + (end - m.gpa) });
    return kept;
  });
}

/**
 * gpa_space_protect_range: only "no access" (HAX_RAM_PERM_NONE) and "all" (RWX) exist; the pages
 * touched by [pa_start, pa_start+size) must lie below the highest page SET_RAM ever named.
 */
function protectRam(call: HaxmCall): number {
  const vm = vmOf(call);
  const p = readArg(call);
  const set = call.structs.set;
  if (p.reserved !== 0) fail(Errno.EINVAL, 'reserved must be 0');
  const perm = (p.flags as number) & constant(set, 'HAX_RAM_PERM_MASK');
  const start = p.pa_start as bigint;
  const size = p.size as bigint;
  if (size === 0n) fail(Errno.EINVAL, 'size == 0');
  const none = perm === constant(set, 'HAX_RAM_PERM_NONE');
  if (!none && perm !== constant(set, 'HAX_RAM_PERM_RWX')) fail(Errno.EINVAL, `permissions 0x${perm.toString(16)}: only none or RWX`);
  const first = Number(start >> PAGE_SHIFT);
  const last = Number((start + size - 1n) >> PAGE_SHIFT);
  if (last >= vm.protectableEnd) fail(Errno.EINVAL, `page 0x${last.toString(16)} is past every page SET_RAM named`);
  for (let page = first; page <= last; page++) {
    if (none) vm.protectedPages.add(page);
    else vm.protectedPages.delete(page);
  }
  rebuildSlots(vm, call);
  return 0;
}

/** The core's slots anew: each mapping cut where protection starts or ends. */
function rebuildSlots(vm: VmObject, call: HaxmCall): void {
  for (const old of [...vm.machine.memory.listSlots()]) vm.machine.setSlot({ slot: old.slot, gpa: 0, size: 0 });
  const protectedPages = [...vm.protectedPages].sort((a, b) => a - b);
  const perms = (page: number) => (vm.protectedPages.has(page) ? 0 : Perm.RWX);
  let slot = 0;
  for (const m of vm.mappings) {
    const first = m.gpa / PAGE_SIZE;
    const end = first + m.size / PAGE_SIZE;
    // Permissions only change at a protected page or just after one.
    const cuts = new Set([first, end]);
    for (const p of protectedPages) {
      if (p > first && p < end) cuts.add(p);
      if (p + 1 > first && p + 1 < end) cuts.add(p + 1);
    }
    const points = [...cuts].sort((a, b) => a - b);
    for (let i = 0; i < points.length - 1; ) {
      let j = i + 1;
      while (j < points.length - 1 && perms(points[j]) === perms(points[i])) j++;
      const gpa = points[i] * PAGE_SIZE;
      const size = (points[j] - points[i]) * PAGE_SIZE;
      const backing = call.user.space.view(m.va + (gpa - m.gpa), size)!;
      vm.machine.setSlot({ slot: slot++, gpa, size, backing, readonly: m.rom, perms: perms(points[i]) });
      i = j;
    }
  }
}

export const ramHandlers: Record<string, Handler> = {
  HAX_VM_IOCTL_ALLOC_RAM: (call) => {
    const a = readArg(call);
    return addRamBlock(call, a.va as bigint, BigInt(a.size as number));
  },
  HAX_VM_IOCTL_ADD_RAMBLOCK: (call) => {
    const a = readArg(call);
    if (a.reserved !== 0n) fail(Errno.EINVAL, 'reserved must be 0');
    return addRamBlock(call, a.start_va as bigint, a.size as bigint);
  },
  HAX_VM_IOCTL_SET_RAM: (call) => {
    const r = readArg(call);
    return setRam(call, { gpa: r.pa_start as bigint, size: BigInt(r.size as number), va: r.va as bigint, flags: r.flags as number });
  },
  HAX_VM_IOCTL_SET_RAM2: (call) => {
    const r = readArg(call);
    if (r.reserved1 !== 0 || r.reserved2 !== 0n) fail(Errno.EINVAL, 'reserved1 and reserved2 must be 0');
    return setRam(call, { gpa: r.pa_start as bigint, size: r.size as bigint, va: r.va as bigint, flags: r.flags as number });
  },
  HAX_VM_IOCTL_PROTECT_RAM: protectRam,
};
