// A realistic KVM trace for tests: what the recorder logs for a monitor that opens /dev/kvm, makes a
// VM with one page of guest memory, runs a vCPU to a port write, and makes a VFIO device. Request
// numbers and struct layouts are the x86_64 Linux ones (the registry is expected to name them).

import type { IoctlEvent, Region, TraceEvent, TraceHeader } from '../../traces/events.js';
import { TraceWriter } from '../../traces/writer.js';

export const KVM = {
  GET_API_VERSION: 0xae00,
  CREATE_VM: 0xae01,
  GET_VCPU_MMAP_SIZE: 0xae04,
  CREATE_VCPU: 0xae41,
  SET_USER_MEMORY_REGION: 0x4020ae46,
  RUN: 0xae80,
  CREATE_DEVICE: 0xc00caee0,
  SET_DEVICE_ATTR: 0x4018aee1,
  EXIT_IO: 2,
  DEV_TYPE_VFIO: 4,
  DEV_VFIO_GROUP: 1,
  DEV_VFIO_GROUP_ADD: 1,
} as const;

/** sizeof(struct kvm_run) on x86_64: header, exit union at 32, valid/dirty regs, sync regs. */
export const KVM_RUN_SIZE = 2352;
export const RUN_ADDR = 0x7f00_0000_0000;
export const GUEST_RAM_ADDR = 0x7f10_0000_0000;
/** mov dx, 0x3f8; mov al, 'A'; out dx, al; hlt */
export const GUEST_CODE = Uint8Array.from([0xba, 0xf8, 0x03, 0xb0, 0x41, 0xee, 0xf4]);

export function sampleHeader(overrides: Partial<TraceHeader> = {}): TraceHeader {
  return {
    format: 'ioctlgrind-trace',
    formatVersion: 1,
    tool: 'ioctlgrind-test',
    schemaSets: ['kvm-linux'],
    host: { hostname: 'testhost', kernel: '6.8.0', arch: 'x86_64' },
    command: ['qemu-system-x86_64', '-accel', 'kvm'],
    abi: 'lp64',
    recorder: 'native',
    exact: false,
    memcheck: false,
    startedAt: '2026-11-21T07:00:00.000Z',
    ...overrides,
  };
}

/** Builds events with consecutive sequence numbers for one process. */
export class EventBuilder {
  readonly events: TraceEvent[] = [];

  constructor(
    public pid = 100,
    public tid = 100,
  ) {}

  /** Adds an event, giving it the next sequence number, this builder's pid and tid, and a time. */
  add(event: DistributiveOmit<TraceEvent, 'seq' | 'pid' | 'tid'>): TraceEvent {
    const seq = this.events.length;
    const full: TraceEvent = { seq, pid: this.pid, tid: this.tid, t: seq * 1000, ...event };
    this.events.push(full);
    return full;
  }

  ioctl(fd: number, request: number, fields: Partial<Pick<IoctlEvent, 'arg' | 'ret' | 'errno' | 'regions'>> = {}): TraceEvent {
    return this.add({ type: 'ioctl', fd, request, arg: 0, ret: 0, errno: 0, regions: [], ...fields });
  }
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

/** The bytes of a kvm_run page after a KVM_EXIT_IO exit (an OUT of `count` bytes of `size`). */
export function kvmRunExitIo(port: number, size: number, count: number, dataOffset: number): Uint8Array {
  const run = new Uint8Array(KVM_RUN_SIZE);
  const view = new DataView(run.buffer);
  view.setUint32(8, KVM.EXIT_IO, true); // exit_reason
  view.setUint8(32, 1); // io.direction = KVM_EXIT_IO_OUT
  view.setUint8(33, size);
  view.setUint16(34, port, true);
  view.setUint32(36, count, true);
  view.setBigUint64(40, BigInt(dataOffset), true);
  return run;
}

export function kvmUserspaceMemoryRegion(slot: number, gpa: bigint, size: bigint, userspaceAddr: bigint): Uint8Array {
  const bytes = new Uint8Array(32);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, slot, true);
  view.setUint32(4, 0, true); // flags
  view.setBigUint64(8, gpa, true);
  view.setBigUint64(16, size, true);
  view.setBigUint64(24, userspaceAddr, true);
  return bytes;
}

export function kvmCreateDevice(type: number, fd: number): Uint8Array {
  const bytes = new Uint8Array(12);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, type, true);
  view.setUint32(4, fd, true);
  view.setUint32(8, 0, true); // flags
  return bytes;
}

export function kvmDeviceAttr(group: number, attr: bigint, addr: bigint): Uint8Array {
  const bytes = new Uint8Array(24);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, 0, true); // flags
  view.setUint32(4, group, true);
  view.setBigUint64(8, attr, true);
  view.setBigUint64(16, addr, true);
  return bytes;
}

function argRegion(addr: number, dir: Region['dir'], before: Uint8Array, after?: Uint8Array): Region {
  return { role: 'arg', addr, length: before.length, dir, before, ...(after ? { after } : {}) };
}

/**
 * The sample session. fds: 3 = /dev/kvm, 4 = vm0, 5 = vm0/vcpu0 (later closed and reused by
 * vm0/vcpu1), 6 = a dup of vcpu0, 7 = vm0/device0 (VFIO), given VFIO group fd 11 through
 * kvm_device_attr.addr.
 */
export function kvmSampleEvents(): TraceEvent[] {
  const b = new EventBuilder();
  const stack = 0x7ffd_0000_1000;
  b.add({ type: 'open', path: '/dev/kvm', flags: 0x80002, fd: 3, errno: 0 });
  b.ioctl(3, KVM.GET_API_VERSION, { ret: 12 });
  b.ioctl(3, KVM.CREATE_VM, { ret: 4 });
  b.ioctl(3, KVM.GET_VCPU_MMAP_SIZE, { ret: 3 * 4096 });
  b.ioctl(4, KVM.CREATE_VCPU, { arg: 0, ret: 5 });
  b.add({ type: 'mmap', fd: 5, addr: RUN_ADDR, length: 3 * 4096, prot: 3, flags: 1, offset: 0 });
  const ram = new Uint8Array(4096);
  ram.set(GUEST_CODE);
  b.add({ type: 'memory', why: 'register', addr: GUEST_RAM_ADDR, data: ram });
  const region = kvmUserspaceMemoryRegion(0, 0n, 4096n, BigInt(GUEST_RAM_ADDR));
  b.ioctl(4, KVM.SET_USER_MEMORY_REGION, { arg: stack, regions: [argRegion(stack, 'in', region)] });
  b.ioctl(5, KVM.RUN, {
    regions: [
      {
        role: 'run',
        addr: RUN_ADDR,
        length: KVM_RUN_SIZE,
        dir: 'inout',
        before: new Uint8Array(KVM_RUN_SIZE),
        after: kvmRunExitIo(0x3f8, 1, 1, 0x1000),
      },
      { role: 'run.io', addr: RUN_ADDR + 0x1000, length: 1, dir: 'out', after: Uint8Array.of(0x41) },
    ],
  });
  b.add({ type: 'dup', oldfd: 5, newfd: 6 });
  b.add({ type: 'close', fd: 5, ret: 0, errno: 0 });
  b.ioctl(6, KVM.RUN, { ret: -1, errno: 4 }); // EINTR: a signal kicked the vCPU out
  b.add({ type: 'close', fd: 6, ret: 0, errno: 0 });
  b.ioctl(4, KVM.CREATE_VCPU, { arg: 1, ret: 5 });
  b.ioctl(4, KVM.CREATE_DEVICE, {
    arg: stack,
    regions: [argRegion(stack, 'inout', kvmCreateDevice(KVM.DEV_TYPE_VFIO, 0), kvmCreateDevice(KVM.DEV_TYPE_VFIO, 7))],
  });
  const groupFd = stack + 0x100;
  const attr = kvmDeviceAttr(KVM.DEV_VFIO_GROUP, BigInt(KVM.DEV_VFIO_GROUP_ADD), BigInt(groupFd));
  b.ioctl(7, KVM.SET_DEVICE_ATTR, {
    arg: stack,
    regions: [
      argRegion(stack, 'in', attr),
      { role: 'addr', addr: groupFd, length: 4, dir: 'in', before: Uint8Array.of(11, 0, 0, 0) },
    ],
  });
  b.add({ type: 'note', message: 'sample ends' });
  b.add({ type: 'exit', status: 0 });
  return b.events;
}

/** Writes `events` (the sample session by default) to `path`. */
export function writeTrace(
  path: string,
  events: TraceEvent[] = kvmSampleEvents(),
  header: TraceHeader = sampleHeader(),
): { header: TraceHeader; events: TraceEvent[] } {
  const writer = TraceWriter.create(path, header);
  for (const event of events) writer.write(event);
  writer.close();
  return { header, events };
}
