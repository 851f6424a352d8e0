// VM ioctls of KVM's in-kernel devices and VM-wide settings: ENABLE_CAP, the irqchip (8259s,
// IOAPIC, GSI routing, IRQ lines), the PIT, ioeventfds, coalesced MMIO/PIO zones, the MSR filter,
// the identity-map address and kvmclock. Checks and errnos in KVM's order (arch/x86/kvm/x86.c,
// virt/kvm/eventfd.c, coalesced_mmio.c, irqchip.c).

import { argStruct, readArg, writeArg, type Call, type Fields, type Handler } from './call.js';
import { MAX_VCPU_IDS } from './capabilities.js';
import { Pit } from './devices/pit.js';
import { PIC_FIELDS } from './devices/pic.js';
import { IOAPIC_PINS } from './devices/ioapic.js';
import { APIC_BASE_ENABLE } from './devices/lapic.js';
import { Errno, fail } from './errors.js';
import { Irqchip, KVM_IRQ_ROUTING_IRQCHIP, KVM_IRQ_ROUTING_MSI, type Route } from './irqchip.js';
import { pitEdge } from './in-kernel.js';
import { kvmclockNow } from './msrs.js';
import type { VmObject } from './objects.js';

const vmOf = (call: Call): VmObject => call.object as VmObject;
const cap = (call: Call, name: string): number => call.structs.set.constants[name] ?? -1;

/** KVM_MAX_IRQ_ROUTES. */
const MAX_IRQ_ROUTES = 4096;
const KVM_IOEVENTFD_FLAG_DATAMATCH = 1;
const KVM_IOEVENTFD_FLAG_PIO = 2;
const KVM_IOEVENTFD_FLAG_DEASSIGN = 4;
const KVM_IOEVENTFD_VALID = 0xf;
const KVM_CLOCK_VALID_FLAGS = 2 | 4 | 8;
const KVM_MSR_FILTER_DEFAULT_DENY = 1;
const KVM_MSR_FILTER_MAX_BITMAP_SIZE = 0x600;

/** kvm_vm_ioctl_enable_cap(_generic): the capabilities QEMU enables and the core can honour or that only change reporting. */
function enableCap(call: Call): number {
  const vm = vmOf(call);
  const c = readArg(call);
  const which = c.cap as number;
  const arg0 = (c.args as bigint[])[0];
  if (c.flags !== 0) fail(Errno.EINVAL, 'ENABLE_CAP flags must be 0');
  switch (which) {
    case cap(call, 'KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2'):
      // KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE | KVM_DIRTY_LOG_INITIALLY_SET.
      if (arg0 & ~3n) fail(Errno.EINVAL, `dirty-log protect options 0x${arg0.toString(16)}`);
      break;
    case cap(call, 'KVM_CAP_EXCEPTION_PAYLOAD'):
    case cap(call, 'KVM_CAP_X86_TRIPLE_FAULT_EVENT'):
      // Only how KVM_GET/SET_VCPU_EVENTS report exceptions and triple faults.
      break;
    case cap(call, 'KVM_CAP_X86_USER_SPACE_MSR'):
      // KVM_MSR_EXIT_REASON_INVAL | UNKNOWN | FILTER.
      if (arg0 & ~7n) fail(Errno.EINVAL, `user-space MSR reasons 0x${arg0.toString(16)}`);
      break;
    case cap(call, 'KVM_CAP_MAX_VCPU_ID'):
      // Only once, and never below the BSP's id (0): a second, different value is EINVAL.
      if (arg0 > BigInt(MAX_VCPU_IDS)) fail(Errno.EINVAL, `max vcpu id ${arg0}`);
      if (vm.maxVcpuIds === Number(arg0)) return 0;
      if (vm.maxVcpuIds !== 0) fail(Errno.EINVAL, 'max vcpu id already set');
      vm.maxVcpuIds = Number(arg0);
      break;
    default:
      fail(Errno.EINVAL, `capability ${which} cannot be enabled on the emulated core`);
  }
  vm.enabledCaps.set(which, arg0);
  return 0;
}

function setIdentityMapAddr(call: Call): number {
  const vm = vmOf(call);
  if (vm.vcpus.size > 0) fail(Errno.EINVAL, 'vCPUs exist');
  vm.identityMapAddr = call.structs.decodeAs({ kind: 'scalar', scalar: 'u64' }, call.user.read(call.arg, 8)) as bigint;
  return 0;
}

/** kvm_vm_ioctl_set_msr_filter / kvm_add_msr_filter: ranges with their bitmaps copied in. */
function setMsrFilter(call: Call): number {
  const vm = vmOf(call);
  const f = readArg(call);
  const flags = f.flags as number;
  if (flags & ~KVM_MSR_FILTER_DEFAULT_DENY) fail(Errno.EINVAL, `filter flags 0x${flags.toString(16)}`);
  const ranges = f.ranges as Fields[];
  if (ranges.every((r) => r.nmsrs === 0) && flags & KVM_MSR_FILTER_DEFAULT_DENY) fail(Errno.EINVAL, 'deny everything with no ranges');
  const out: NonNullable<VmObject['msrFilter']>['ranges'] = [];
  for (const r of ranges) {
    const n = r.nmsrs as number;
    if (n === 0) continue;
    const rf = r.flags as number;
    if (rf & ~3 || rf === 0) fail(Errno.EINVAL, `range flags 0x${rf.toString(16)}`);
    const size = Math.ceil(n / 64) * 8;
    if (size > KVM_MSR_FILTER_MAX_BITMAP_SIZE) fail(Errno.EINVAL, `bitmap of ${n} MSRs`);
    out.push({ flags: rf, base: r.base as number, nmsrs: n, bitmap: call.user.read(r.bitmap as bigint, Math.ceil(n / 8)) });
  }
  vm.msrFilter = { flags, ranges: out };
  return 0;
}

function createIrqchip(call: Call): number {
  const vm = vmOf(call);
  if (vm.irqchip) fail(Errno.EEXIST, 'the VM has an irqchip');
  if (vm.vcpus.size > 0) fail(Errno.EINVAL, 'vCPUs exist');
  const chip = new Irqchip(() => [...vm.vcpus.values()].flatMap((v) => (v.lapic ? [v.lapic] : [])));
  chip.pic.acceptsIntr = () => [...vm.vcpus.values()].some((v) => v.lapic?.acceptsPicIntr((v.core.msrs.apicBase & APIC_BASE_ENABLE) !== 0n));
  vm.irqchip = chip;
  return 0;
}

function irqchipOf(call: Call): Irqchip {
  const chip = vmOf(call).irqchip;
  if (!chip) fail(Errno.ENXIO, 'no in-kernel irqchip');
  return chip;
}

function irqLine(status: boolean): Handler {
  return (call) => {
    const chip = irqchipOf(call);
    const l = readArg(call);
    const ret = chip.setIrq(l.irq as number, l.level as number);
    if (status) writeArg(call, { ...l, status: ret });
    return 0;
  };
}

/** kvm_set_irq_routing with kvm_set_routing_entry's checks. */
function setGsiRouting(call: Call): number {
  // kvm_arch_can_set_irq_routing: only with an in-kernel irqchip, else EINVAL.
  const chip = vmOf(call).irqchip;
  if (!chip) fail(Errno.EINVAL, 'no in-kernel irqchip');
  const head = readArg(call);
  const nr = head.nr as number;
  if (nr > MAX_IRQ_ROUTES) fail(Errno.EINVAL, `${nr} routes`);
  if (head.flags !== 0) fail(Errno.EINVAL, 'routing flags');
  const at = BigInt(call.arg) + BigInt(call.structs.offsetOf(argStruct(call), 'entries'));
  const entries = call.structs.readArray(call.user, 'kvm_irq_routing_entry', at, nr);
  const routes: Route[] = [];
  for (const e of entries) {
    const gsi = e.gsi as number;
    const type = e.type as number;
    const u = e.u as Fields;
    if ((e.flags as number) & ~1) fail(Errno.EINVAL, 'route flags');
    if (gsi >= MAX_IRQ_ROUTES) fail(Errno.EINVAL, `gsi ${gsi}`);
    if (type === KVM_IRQ_ROUTING_IRQCHIP) {
      const ic = u.irqchip as Fields;
      const which = ic.irqchip as number;
      const pin = ic.pin as number;
      if (which > 2 || pin >= (which === 2 ? IOAPIC_PINS : 8)) fail(Errno.EINVAL, `irqchip ${which} pin ${pin}`);
      if (routes.some((r) => r.gsi === gsi && (r.type !== KVM_IRQ_ROUTING_IRQCHIP || r.irqchip === which))) fail(Errno.EINVAL, `gsi ${gsi} routed twice to one irqchip`);
      routes.push({ gsi, type, irqchip: which, pin });
    } else if (type === KVM_IRQ_ROUTING_MSI) {
      if (routes.some((r) => r.gsi === gsi)) fail(Errno.EINVAL, `gsi ${gsi} routed twice`);
      const m = u.msi as Fields;
      routes.push({ gsi, type, msi: { address_lo: m.address_lo as number, address_hi: m.address_hi as number, data: m.data as number } });
    } else fail(Errno.EINVAL, `route type ${type}`);
  }
  chip.routing = routes;
  return 0;
}

/** kvm_vm_ioctl_get_irqchip: the caller's struct comes back whole, with only the chip's state in the union replaced. */
function getIrqchip(call: Call): number {
  const chip = irqchipOf(call);
  const struct = argStruct(call);
  const size = call.structs.size(struct);
  const original = call.user.read(call.arg, size);
  const r = call.structs.decode(struct, original);
  const id = r.chip_id as number;
  let value: Fields;
  let member: string;
  if (id === 0 || id === 1) {
    value = { pic: { ...chip.pic.chips[id] } };
    member = 'kvm_pic_state';
  } else if (id === 2) {
    value = { ioapic: { ...chip.ioapic.state, pad: 0, redirtbl: chip.ioapic.state.redirtbl.map((bits) => ({ bits })) } };
    member = 'kvm_ioapic_state';
  } else fail(Errno.EINVAL, `chip_id ${id}`);
  const at = call.structs.offsetOf(struct, 'chip');
  const encoded = call.structs.encode({ kind: 'struct', name: struct }, { chip_id: id, chip: value }, size);
  const out = original.slice();
  out.set(encoded.subarray(at, at + call.structs.size(member)), at);
  call.user.write(call.arg, out);
  return 0;
}

function setIrqchip(call: Call): number {
  const chip = irqchipOf(call);
  const r = readArg(call);
  const id = r.chip_id as number;
  const c = r.chip as Fields;
  if (id === 0 || id === 1) {
    const p = c.pic as Fields;
    const dst = chip.pic.chips[id] as unknown as Record<string, number>;
    for (const k of PIC_FIELDS) dst[k] = p[k] as number;
    chip.pic.update();
  } else if (id === 2) {
    const io = c.ioapic as Fields;
    const s = chip.ioapic.state;
    s.base_address = io.base_address as bigint;
    s.ioregsel = io.ioregsel as number;
    s.id = io.id as number;
    s.irr = io.irr as number;
    s.redirtbl = (io.redirtbl as Fields[]).map((e) => e.bits as bigint);
  } else fail(Errno.EINVAL, `chip_id ${id}`);
  return 0;
}

function createPit2(call: Call): number {
  const vm = vmOf(call);
  readArg(call);
  if (vm.pit) fail(Errno.EEXIST, 'the VM has a PIT');
  if (!vm.irqchip) fail(Errno.ENOENT, 'no in-kernel 8259');
  const pit = new Pit(() => vm.clock.now());
  vm.pit = pit;
  // kvm_pit_ack_irq on GSI 0: with reinjection, an acknowledged IRQ0 lets a held-back expiry out.
  vm.irqchip.pic.onEoi = (irq) => {
    if (irq === 0 && pit.ack()) pitEdge(vm);
  };
  vm.irqchip.pic.onMask = (irq, masked) => {
    if (irq === 0 && !masked) pit.resetReinject();
  };
  return 0;
}

function pitOf(call: Call): Pit {
  const pit = vmOf(call).pit;
  if (!pit) fail(Errno.ENXIO, 'no in-kernel PIT');
  return pit;
}

function getPit2(call: Call): number {
  const pit = pitOf(call);
  writeArg(call, { channels: pit.channels.map((c) => ({ ...c })) as unknown as Fields[], flags: pit.flags, reserved: Array(9).fill(0) });
  return 0;
}

/** kvm_vm_ioctl_set_pit2: the channels as given, then every count reloaded (count_load_time is now). */
function setPit2(call: Call): number {
  const pit = pitOf(call);
  const s = readArg(call);
  (s.channels as Fields[]).forEach((c, i) => Object.assign(pit.channels[i], c));
  pit.flags = s.flags as number;
  for (let i = 0; i < 3; i++) pit.loadCount(i, pit.channels[i].count);
  return 0;
}

/** kvm_assign_ioeventfd / kvm_deassign_ioeventfd (the eventfd itself is the monitor's, not checked). */
function ioeventfd(call: Call): number {
  const vm = vmOf(call);
  const a = readArg(call);
  const flags = a.flags as number;
  const len = a.len as number;
  const addr = a.addr as bigint;
  if (flags & ~KVM_IOEVENTFD_VALID) fail(Errno.EINVAL, `ioeventfd flags 0x${flags.toString(16)}`);
  if (![0, 1, 2, 4, 8].includes(len)) fail(Errno.EINVAL, `ioeventfd length ${len}`);
  if (addr + BigInt(len) >= 1n << 64n) fail(Errno.EINVAL, 'ioeventfd wraps');
  if (len === 0 && flags & KVM_IOEVENTFD_FLAG_DATAMATCH) fail(Errno.EINVAL, 'a zero-length ioeventfd cannot match data');
  const pio = (flags & KVM_IOEVENTFD_FLAG_PIO) !== 0;
  const datamatch = flags & KVM_IOEVENTFD_FLAG_DATAMATCH ? (a.datamatch as bigint) : undefined;
  const fd = a.fd as number;
  const same = (e: VmObject['ioeventfds'][number]) => e.pio === pio && e.addr === addr && e.len === len;
  if (flags & KVM_IOEVENTFD_FLAG_DEASSIGN) {
    const i = vm.ioeventfds.findIndex((e) => same(e) && e.fd === fd && e.datamatch === datamatch);
    if (i < 0) fail(Errno.ENOENT, 'no such ioeventfd');
    vm.ioeventfds.splice(i, 1);
    return 0;
  }
  if (vm.ioeventfds.some((e) => same(e) && (e.datamatch === undefined || datamatch === undefined || e.datamatch === datamatch))) fail(Errno.EEXIST, 'ioeventfd collides');
  vm.ioeventfds.push({ addr, len, pio, datamatch, fd, signalled: 0 });
  return 0;
}

function registerCoalesced(call: Call): number {
  const vm = vmOf(call);
  const z = readArg(call);
  const pio = z.pio as number;
  if (pio !== 0 && pio !== 1) fail(Errno.EINVAL, `zone pio ${pio}`);
  vm.coalesced.push({ addr: z.addr as bigint, size: z.size as number, pio: pio === 1 });
  return 0;
}

/** Removes every zone of the same kind inside the given range. */
function unregisterCoalesced(call: Call): number {
  const vm = vmOf(call);
  const z = readArg(call);
  const pio = z.pio as number;
  if (pio !== 0 && pio !== 1) fail(Errno.EINVAL, `zone pio ${pio}`);
  const addr = z.addr as bigint;
  const end = addr + BigInt(z.size as number);
  for (let i = vm.coalesced.length - 1; i >= 0; i--) {
    const c = vm.coalesced[i];
    if (c.pio === (pio === 1) && c.addr >= addr && c.addr + BigInt(c.size) <= end) vm.coalesced.splice(i, 1);
  }
  return 0;
}


function setClock(call: Call): number {
  const vm = vmOf(call);
  const d = readArg(call);
  if ((d.flags as number) & ~KVM_CLOCK_VALID_FLAGS) fail(Errno.EINVAL, `clock flags 0x${(d.flags as number).toString(16)}`);
  vm.kvmclock = { value: d.clock as bigint, at: vm.clock.now() };
  return 0;
}

function getClock(call: Call): number {
  writeArg(call, { clock: kvmclockNow(vmOf(call)), flags: 0 });
  return 0;
}

/**
 * kvm_send_userspace_msi: a fixed or lowest-priority MSI to the APIC its address names (physical
 * destination; 0xff broadcasts). The return value is the count of APICs reached; -1 (EPERM as an
 * errno) when none took it.
 */
function signalMsi(call: Call): number {
  const vm = vmOf(call);
  const m = readArg(call);
  if (!vm.irqchip || (m.flags as number) & ~1) fail(Errno.EINVAL, 'MSI without an in-kernel irqchip, or unknown flags');
  const lo = m.address_lo as number;
  const data = m.data as number;
  const dest = (lo >>> 12) & 0xff;
  const mode = (data >> 8) & 7;
  if (mode !== 0 && mode !== 1) fail(Errno.EINVAL, `MSI delivery mode ${mode}: only fixed and lowest priority are modelled`);
  let n = 0;
  let targets = 0;
  for (const v of vm.vcpus.values()) {
    if (!v.lapic || (dest !== 0xff && dest !== v.id)) continue;
    targets++;
    n += v.lapic.accept(data & 0xff, ((data >> 15) & 1) === 1);
  }
  // A software-disabled APIC drops it (0); no APIC at all is -1, EPERM as an errno.
  if (targets === 0) fail(Errno.EPERM, 'the MSI names no APIC');
  return n;
}

function setBootCpuId(call: Call): number {
  const vm = vmOf(call);
  const id = Number(BigInt.asUintN(64, BigInt(call.arg)));
  if (vm.vcpus.size > 0) fail(Errno.EBUSY, 'vCPUs exist');
  if (id > MAX_VCPU_IDS || (vm.maxVcpuIds && id > vm.maxVcpuIds)) fail(Errno.EINVAL, `boot cpu id ${id}`);
  vm.bootCpuId = id;
  return 0;
}

/**
 * kvm_irqfd: the eventfd is looked up first, on assign and deassign alike. The emulated driver sees
 * no eventfds: one of its own fds is not an eventfd (EINVAL), any other is not open to it (EBADF).
 */
function irqfd(call: Call): number {
  const f = readArg(call);
  const flags = f.flags as number;
  if (flags & ~3) fail(Errno.EINVAL, `irqfd flags 0x${flags.toString(16)}`);
  const fd = f.fd as number;
  if (call.kvm.isOpen(fd)) fail(Errno.EINVAL, `fd ${fd} is not an eventfd`);
  fail(Errno.EBADF, `fd ${fd} is not an eventfd the emulated driver can see`);
}

export const vmIrqHandlers: Record<string, Handler> = {
  KVM_SIGNAL_MSI: signalMsi,
  KVM_SET_BOOT_CPU_ID: setBootCpuId,
  KVM_IRQFD: irqfd,
  KVM_ENABLE_CAP: enableCap,
  KVM_SET_IDENTITY_MAP_ADDR: setIdentityMapAddr,
  KVM_X86_SET_MSR_FILTER: setMsrFilter,
  KVM_CREATE_IRQCHIP: createIrqchip,
  KVM_IRQ_LINE: irqLine(false),
  KVM_IRQ_LINE_STATUS: irqLine(true),
  KVM_SET_GSI_ROUTING: setGsiRouting,
  KVM_GET_IRQCHIP: getIrqchip,
  KVM_SET_IRQCHIP: setIrqchip,
  KVM_CREATE_PIT2: createPit2,
  KVM_GET_PIT2: getPit2,
  KVM_SET_PIT2: setPit2,
  KVM_IOEVENTFD: ioeventfd,
  KVM_REGISTER_COALESCED_MMIO: registerCoalesced,
  KVM_UNREGISTER_COALESCED_MMIO: unregisterCoalesced,
  KVM_SET_CLOCK: setClock,
  KVM_GET_CLOCK: getClock,
};
