// MSRs KVM keeps for a vCPU beyond the core's own file (vmx/msrs.ts): machine-check banks sized
// by KVM_X86_SETUP_MCE, KVM's paravirtual MSRs (kvmclock, async PF, steal time, PV EOI), the TSC
// deadline, the SMI count and the AMD virtualisation MSRs QEMU saves. Both KVM_GET/SET_MSRS and
// the guest's RDMSR/WRMSR go through here first; everything else goes to the core.

import type { SystemBus } from '../cpu/cpu.js';
import { timeScale } from './in-kernel.js';
import type { VcpuObject, VmObject } from './objects.js';

/** kvmclock: the value KVM_SET_CLOCK gave, advanced by the VM's virtual clock. */
export function kvmclockNow(vm: VmObject): bigint {
  return vm.kvmclock.value + (vm.clock.now() - vm.kvmclock.at);
}

const MCG_CAP = 0x179;
const MCG_CTL = 0x17b;
const MCG_CTL_P = 1n << 8n;
const MC0_CTL = 0x400;
export const MSR_KVM_WALL_CLOCK = 0x11;
export const MSR_KVM_SYSTEM_TIME = 0x12;
export const MSR_KVM_WALL_CLOCK_NEW = 0x4b564d00;
export const MSR_KVM_SYSTEM_TIME_NEW = 0x4b564d01;
/** Paravirtual MSRs stored as written: async PF, steal time, PV EOI, poll control, async PF int/ack. */
const KVM_PV_STORED = [0x4b564d02, 0x4b564d03, 0x4b564d04, 0x4b564d05, 0x4b564d06, 0x4b564d07];
const SMI_COUNT = 0x34;
const TSC_DEADLINE = 0x6e0;
const VM_HSAVE_PA = 0xc0010117;
const VIRT_SPEC_CTRL = 0xc001011f;
const ARCH_CAPABILITIES = 0x10a;
const PERF_CAPABILITIES = 0x345;

export class KvmMsrs {
  private readonly stored = new Map<number, bigint>();
  /** The kvmclock system-time MSR last written (either index), or 0. */
  systemTime = 0n;

  constructor(private readonly vcpu: VcpuObject) {
    for (const i of [MSR_KVM_WALL_CLOCK, MSR_KVM_WALL_CLOCK_NEW, ...KVM_PV_STORED, SMI_COUNT, TSC_DEADLINE, VM_HSAVE_PA, VIRT_SPEC_CTRL, ARCH_CAPABILITIES, PERF_CAPABILITIES]) this.stored.set(i, 0n);
    this.stored.set(MCG_CTL, 0xffffffffffffffffn);
  }

  private banks(): number {
    return Number(this.vcpu.mcgCap & 0xffn);
  }

  /** KVM_X86_SETUP_MCE: every bank's CTL all ones, as kvm_vcpu_ioctl_x86_setup_mce leaves them. */
  setupMce(mcgCap: bigint): void {
    this.vcpu.mcgCap = mcgCap;
    if (mcgCap & MCG_CTL_P) this.stored.set(MCG_CTL, 0xffffffffffffffffn);
    for (let b = 0; b < this.banks(); b++) {
      this.stored.set(MC0_CTL + 4 * b, 0xffffffffffffffffn);
      for (let k = 1; k < 4; k++) this.stored.set(MC0_CTL + 4 * b + k, 0n);
    }
  }

  private isBank(index: number): boolean {
    return index >= MC0_CTL && index < MC0_CTL + 4 * this.banks();
  }

  /** KVM_GET_MSR_INDEX_LIST's share: the MSRs this file keeps (banks as KVM_X86_SETUP_MCE sized them). */
  indices(): number[] {
    return [MCG_CAP, MSR_KVM_SYSTEM_TIME, MSR_KVM_SYSTEM_TIME_NEW, ...this.stored.keys()].filter((i) => i < MC0_CTL || i >= MC0_CTL + 4 * 32 || this.isBank(i));
  }

  /** Answers `index`, or undefined when the core's file does. */
  read(index: number): bigint | undefined {
    if (index === MCG_CAP) return this.vcpu.mcgCap;
    if (index === MSR_KVM_SYSTEM_TIME || index === MSR_KVM_SYSTEM_TIME_NEW) return this.systemTime;
    if (index === MCG_CTL) return this.vcpu.mcgCap & MCG_CTL_P ? this.stored.get(index) : undefined;
    if (index >= MC0_CTL && index < MC0_CTL + 4 * 32) return this.isBank(index) ? this.stored.get(index) : undefined;
    return this.stored.get(index);
  }

  /** true/false: handled here (set or refused); undefined: the core's MSR. */
  write(index: number, value: bigint, host: boolean): boolean | undefined {
    if (index === MCG_CAP) return host ? ((this.vcpu.mcgCap = value), true) : false;
    if (index === MSR_KVM_SYSTEM_TIME || index === MSR_KVM_SYSTEM_TIME_NEW) {
      this.systemTime = value;
      // KVM_REQ_GLOBAL_CLOCK_UPDATE: the guest sees the structure before its next instruction.
      if (!host) this.updatePvclock();
      return true;
    }
    if (index === MCG_CTL) {
      if (!(this.vcpu.mcgCap & MCG_CTL_P)) return false;
      if (value !== 0n && value !== 0xffffffffffffffffn) return false;
    } else if (index >= MC0_CTL && index < MC0_CTL + 4 * 32) {
      if (!this.isBank(index)) return false;
      // MCi_STATUS may only be cleared by the guest.
      if ((index - MC0_CTL) % 4 === 1 && !host && value !== 0n) return false;
    } else if ((index === SMI_COUNT || index === ARCH_CAPABILITIES || index === PERF_CAPABILITIES) && !host) return false;
    else if (!this.stored.has(index)) return undefined;
    this.stored.set(index, value);
    return true;
  }

  /**
   * kvm_guest_time_update: pvclock_vcpu_time_info at the system-time MSR's address, from the
   * virtual TSC and kvmclock, version odd while written and even after (as kvm_setup_guest_pvclock).
   */
  updatePvclock(): void {
    if ((this.systemTime & 1n) === 0n) return;
    const vm = this.vcpu.vm;
    const gpa = Number(this.systemTime & ~1n);
    const mem = vm.machine.memory;
    if (!mem.find(gpa) || !mem.find(gpa + 31)) return;
    const old = new DataView(mem.read(gpa, 4).buffer).getUint32(0, true);
    const khz = BigInt(this.vcpu.tscKhz ?? vm.clock.tscKhz);
    const { shift, mul } = timeScale(1_000_000_000n, khz * 1000n);
    const out = new Uint8Array(32);
    const v = new DataView(out.buffer);
    v.setUint32(0, (((old + 1) | 1) + 1) >>> 0, true);
    v.setBigUint64(8, this.vcpu.core.rdtsc(), true);
    v.setBigUint64(16, BigInt.asUintN(64, kvmclockNow(vm)), true);
    v.setUint32(24, mul >>> 0, true);
    v.setInt8(28, shift);
    // PVCLOCK_TSC_STABLE_BIT: one clock for the whole VM.
    v.setUint8(29, 1);
    mem.write(gpa, out);
  }

  /**
   * KVM_X86_SET_MSR_FILTER: whether the guest may make this access. A denied access gets #GP; with
   * KVM_CAP_X86_USER_SPACE_MSR's FILTER reason KVM would exit to the monitor instead
   * (KVM_EXIT_X86_RDMSR/WRMSR), which the core cannot do.
   */
  private allowed(index: number, write: boolean): boolean {
    const f = this.vcpu.vm.msrFilter;
    if (!f) return true;
    const want = write ? 2 : 1;
    for (const r of f.ranges) {
      if ((r.flags & want) === 0 || index < r.base || index >= r.base + r.nmsrs) continue;
      const bit = index - r.base;
      return (r.bitmap[bit >> 3] & (1 << (bit & 7))) !== 0;
    }
    return (f.flags & 1) === 0;
  }

  /** Wraps the core's bus so that the guest's RDMSR/WRMSR reach these MSRs (and the MSR filter) first. */
  wrap(bus: SystemBus): SystemBus {
    return {
      cpuid: (leaf, subleaf, out) => bus.cpuid(leaf, subleaf, out),
      rdtsc: () => bus.rdtsc(),
      rdmsr: (index) => (this.allowed(index >>> 0, false) ? this.read(index >>> 0) ?? bus.rdmsr(index) : undefined),
      wrmsr: (index, value) => this.allowed(index >>> 0, true) && (this.write(index >>> 0, BigInt.asUintN(64, value), false) ?? bus.wrmsr(index, value)),
    };
  }
}
