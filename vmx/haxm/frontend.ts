// The HAXM ABI (Linux numbering, the haxm-linux schema set) over the emulated core, as a Driver:
// /dev/HAX; VMs opened by path (/dev/hax_vm/vmNN) once CREATE_VM gave their id; vCPUs opened by path
// (/dev/hax_vmNN/vcpuNN) once VCPU_CREATE made them, with the tunnel pages the driver maps into the
// process for each vCPU. A request is resolved through the schema registry by the kind of object
// its fd reaches, then handed to that kind's handler module; every user-memory access goes through
// UserMemory's log.

import type { SchemaSet } from '../../schemas/model.js';
import { SchemaRegistry } from '../../schemas/registry.js';
import { AddressSpace, EmulatedAddresses, PAGE_SIZE, type ExactDriver, type IoctlResult, type UserAccess } from '../driver.js';
import { FdDispatch } from '../fd-dispatch.js';
import { Structs } from '../kvm/call.js';
import { Errno } from '../kvm/errors.js';
import { UserMemory } from '../kvm/user-memory.js';
import type { Handler } from './call.js';
import { MAX_VCPUS, MAX_VMS } from './capabilities.js';
import { IOBUF_OFFSET, SystemObject, VcpuObject, VmObject, type HaxmObject } from './objects.js';
import { runHandlers } from './run.js';
import { systemHandlers } from './system.js';
import { devicePattern, parsePath } from './paths.js';
import { SharedStructs, tunnelHandlers } from './tunnel.js';
import { vcpuStateHandlers } from './vcpu-state.js';
import { vmHandlers } from './vm.js';

export const HAXM_SET = 'haxm-linux';

const HANDLERS: Record<HaxmObject['kind'], Record<string, Handler>> = {
  system: systemHandlers,
  vm: vmHandlers,
  vcpu: { ...vcpuStateHandlers, ...tunnelHandlers, ...runHandlers },
};

/**
 * What the Linux driver answers a request it does not handle: its /dev/HAX and VM dispatchers end
 * in `default: break` and return 0 (so DESTROY_VM and VCPU_DESTROY "succeed"), the vCPU one in
 * `default: ret = -ENOSYS`.
 */
const UNKNOWN_REQUEST: Record<HaxmObject['kind'], IoctlResult> = { system: { ret: 0, errno: 0 }, vm: { ret: 0, errno: 0 }, vcpu: { ret: -1, errno: Errno.ENOSYS } };

/**
 * Where the driver maps tunnels: a range of its own, at an address fixed by the VM and vCPU ids, so
 * that the same session gets the same tunnel addresses whatever else the process mapped (a replay
 * maps other buffers than the recording did).
 */
const TUNNEL_BASE = 0x7e0000000000;
/** The tunnel page, the I/O buffer page, and an unmapped page before the next tunnel (an overrun faults). */
const TUNNEL_STRIDE = IOBUF_OFFSET + 2 * PAGE_SIZE;

export interface EmulatedHaxmOptions {
  /** End a RUN with HAX_EXIT_INTERRUPT after this many instructions, as a host interrupt would. */
  maxInstructionsPerRun?: number;
  registry?: SchemaRegistry;
}

export class EmulatedHaxm implements ExactDriver {
  readonly kind = 'emulator';
  readonly memory: AddressSpace;
  readonly structs: Structs;
  readonly shared: SharedStructs;
  readonly set: SchemaSet;
  /** SET_MEMLIMIT's limit in bytes (0: none), which CAPABILITY reports as the quota. */
  memoryLimit = 0n;
  private readonly user: UserMemory;
  private readonly dispatch: FdDispatch<HaxmObject['kind'], HaxmObject, Handler>;
  private readonly vms = new Map<number, VmObject>();
  /** Device paths by object kind, from the schema set (`/dev/hax_vm/vm%02d`). */
  private readonly paths: Record<HaxmObject['kind'], string>;
  private readonly addresses = new EmulatedAddresses();

  constructor(readonly options: EmulatedHaxmOptions = {}) {
    const registry = options.registry ?? SchemaRegistry.default();
    this.set = registry.set(HAXM_SET);
    this.dispatch = new FdDispatch(registry, HAXM_SET, HANDLERS, (kind) => UNKNOWN_REQUEST[kind]);
    this.structs = new Structs(this.set, 'lp64');
    this.shared = new SharedStructs(this.structs);
    this.paths = { system: devicePattern(this.set, 'system'), vm: devicePattern(this.set, 'vm'), vcpu: devicePattern(this.set, 'vcpu') };
    // The bytes go with the last reference; addresses are never reused, so stale pointers fault.
    this.memory = new AddressSpace(this.addresses.pages());
    this.user = new UserMemory(this.memory);
    this.memory.onWrite((addr, length) => this.monitorWrote(addr, length));
  }

  lastAccesses(): readonly UserAccess[] {
    return this.user.accesses();
  }

  /** The lowest free VM id, now taken by a new VM; undefined when all are in use. */
  createVm(): number | undefined {
    for (let id = 0; id < MAX_VMS; id++) {
      if (this.vms.has(id)) continue;
      this.vms.set(id, new VmObject(id));
      return id;
    }
    return undefined;
  }

  vmCount(): number {
    return this.vms.size;
  }

  /** Maps the vCPU's tunnel and I/O buffer pages into the process. */
  mapTunnel(vcpu: VcpuObject): void {
    const addr = TUNNEL_BASE + (vcpu.vm.id * MAX_VCPUS + vcpu.id) * TUNNEL_STRIDE;
    this.memory.addMapping({ addr, bytes: vcpu.shared.bytes.subarray(0, IOBUF_OFFSET + PAGE_SIZE) });
    vcpu.shared.mappedAt = addr;
  }

  /** The device nodes: /dev/HAX always, a VM's once it exists, a vCPU's once VCPU_CREATE made it. */
  open(path: string): number {
    this.user.begin();
    const object = this.objectAt(path);
    return object ? this.dispatch.install(object) : -Errno.ENOENT;
  }

  close(fd: number): number {
    this.user.begin();
    return this.dispatch.close(fd);
  }

  ioctl(fd: number, request: number, arg: number | bigint): IoctlResult {
    this.user.begin();
    return this.dispatch.ioctl(fd, request, (handler, object, schema) => handler({ haxm: this, object, schema, arg, user: this.user, structs: this.structs }));
  }

  /** HAXM's device nodes have no mmap: the driver maps the tunnel itself. */
  mmap(fd: number): number {
    this.user.begin();
    return this.dispatch.fds.has(fd) ? -Errno.ENODEV : -Errno.EBADF;
  }

  munmap(addr: number, length: number): number {
    this.user.begin();
    return length > 0 && this.memory.unmap(addr) ? 0 : -Errno.EINVAL;
  }

  private objectAt(path: string): HaxmObject | undefined {
    if (path === this.paths.system) return new SystemObject();
    const vmIds = parsePath(this.paths.vm, path);
    if (vmIds) return this.vms.get(vmIds[0]);
    const vcpuIds = parsePath(this.paths.vcpu, path);
    return vcpuIds ? this.vms.get(vcpuIds[0])?.vcpus.get(vcpuIds[1]) : undefined;
  }

  /** The monitor wrote its own memory: code the core decoded from guest RAM there is stale. */
  private monitorWrote(addr: number, length: number): void {
    for (const vm of this.vms.values()) {
      for (const m of vm.mappings) {
        const start = Math.max(addr, m.va);
        const end = Math.min(addr + length, m.va + m.size);
        if (start < end) vm.machine.memory.notifyWrite(m.gpa + start - m.va, end - start);
      }
    }
  }
}
