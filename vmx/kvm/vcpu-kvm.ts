// vCPU ioctls for state KVM keeps beyond the registers: vCPU events, MP state, the local APIC
// page, XSAVE and XCRs, SREGS2, the TSC rate, machine check setup, TPR reporting, the VAPIC page,
// kvmclock control, ENABLE_CAP. What the core cannot honour is refused with KVM's errno for bad
// input and a reason naming what is missing.

import type { KvmSregs } from '../index.js';
import { argStruct, argValue, readArg, writeArg, type Call, type Fields, type Handler } from './call.js';
import { Errno, fail } from './errors.js';
import { MSR_KVM_SYSTEM_TIME } from './msrs.js';
import type { VcpuObject } from './objects.js';
import { checkSregs } from './vcpu-state.js';


const vcpuOf = (call: Call): VcpuObject => call.object as VcpuObject;

const VALID_NMI_PENDING = 1;
const VALID_SIPI_VECTOR = 2;
const VALID_SHADOW = 4;
const VALID_SMM = 8;
const VALID_PAYLOAD = 0x10;
const VALID_TRIPLE_FAULT = 0x20;
const MP_STATE_RUNNABLE = 0;
const MP_STATE_HALTED = 3;
const SREGS2_FLAGS_PDPTRS_VALID = 1;
const MCG_CTL_P = 1n << 8n;
const MCG_SER_P = 1n << 24n;
const KVM_MAX_MCE_BANKS = 32;
/** XCR0 bits the core can hold: x87 and SSE (kept as bytes). */
const XCR0_SUPPORTED = 0x3n;
const XSAVE_SIZE = 4096;

function capEnabled(vcpu: VcpuObject, call: Call, name: string): boolean {
  const n = call.structs.set.constants[name];
  return n !== undefined && vcpu.vm.enabledCaps.has(n) && vcpu.vm.enabledCaps.get(n) !== 0n;
}

/** kvm_vcpu_ioctl_x86_get_vcpu_events: the core's queued interrupt and shadow, the rest as set. */
function getVcpuEvents(call: Call): number {
  const vcpu = vcpuOf(call);
  const e = vcpu.events;
  const cpu = vcpu.core.cpu;
  const payload = capEnabled(vcpu, call, 'KVM_CAP_EXCEPTION_PAYLOAD');
  const triple = capEnabled(vcpu, call, 'KVM_CAP_X86_TRIPLE_FAULT_EVENT');
  const queued = cpu.pendingIrq >= 0;
  let flags = VALID_NMI_PENDING | VALID_SHADOW | VALID_SMM;
  if (payload) flags |= VALID_PAYLOAD;
  if (triple) flags |= VALID_TRIPLE_FAULT;
  writeArg(call, {
    exception: { injected: payload ? e.exceptionInjected : e.exceptionInjected | e.exceptionPending, nr: e.exceptionNr, has_error_code: e.hasErrorCode, pending: payload ? e.exceptionPending : 0, error_code: e.errorCode },
    interrupt: { injected: queued ? 1 : 0, nr: queued ? cpu.pendingIrq : e.interruptNr, soft: 0, shadow: cpu.shadowAt === cpu.icount ? 2 : 0 },
    nmi: { injected: e.nmiInjected, pending: e.nmiPending, masked: e.nmiMasked, pad: 0 },
    sipi_vector: 0,
    flags,
    smi: { ...e.smi },
    triple_fault: { pending: 0 },
    exception_has_payload: payload ? e.hasPayload : 0,
    exception_payload: payload ? e.payload : 0n,
  });
  return 0;
}

/**
 * kvm_vcpu_ioctl_x86_set_vcpu_events in KVM's order: the checks, then the state applied, then the
 * triple-fault check (KVM applies the rest before refusing that one). What the core has no model
 * for is refused up front.
 */
function setVcpuEvents(call: Call): number {
  const vcpu = vcpuOf(call);
  const ev = readArg(call);
  const flags = ev.flags as number;
  const ex = { ...(ev.exception as Fields) } as Record<string, number>;
  let hasPayload = ev.exception_has_payload as number;
  if (flags & ~(VALID_NMI_PENDING | VALID_SIPI_VECTOR | VALID_SHADOW | VALID_SMM | VALID_PAYLOAD | VALID_TRIPLE_FAULT)) fail(Errno.EINVAL, `event flags 0x${flags.toString(16)}`);
  if (flags & VALID_PAYLOAD) {
    if (!capEnabled(vcpu, call, 'KVM_CAP_EXCEPTION_PAYLOAD')) fail(Errno.EINVAL, 'payload without KVM_CAP_EXCEPTION_PAYLOAD');
    if (ex.pending) ex.injected = 0;
    else hasPayload = 0;
  } else {
    ex.pending = 0;
    hasPayload = 0;
  }
  if ((ex.injected || ex.pending) && (ex.nr > 31 || ex.nr === 2)) fail(Errno.EINVAL, `exception vector ${ex.nr}`);
  const irq = ev.interrupt as Record<string, number>;
  const nmi = ev.nmi as Record<string, number>;
  const smi = ev.smi as Record<string, number>;
  const triple = (ev.triple_fault as Fields).pending as number;
  if (ex.injected || ex.pending) fail(Errno.EINVAL, 'the emulated core cannot take an exception injected from outside');
  if (nmi.injected || (flags & VALID_NMI_PENDING && nmi.pending)) fail(Errno.EINVAL, 'the emulated core has no NMI model');
  if (flags & VALID_SMM && (smi.smm || smi.pending)) fail(Errno.EINVAL, 'the emulated core has no SMM');
  if (flags & VALID_TRIPLE_FAULT && triple && capEnabled(vcpu, call, 'KVM_CAP_X86_TRIPLE_FAULT_EVENT')) fail(Errno.EINVAL, 'the emulated core cannot take a pending triple fault');
  if (irq.soft) fail(Errno.EINVAL, 'the emulated core cannot re-inject a software interrupt');
  const cpu = vcpu.core.cpu;
  cpu.pendingIrq = irq.injected ? irq.nr & 0xff : -1;
  if (flags & VALID_SHADOW) cpu.shadowAt = irq.shadow ? cpu.icount : -1;
  const e = vcpu.events;
  e.exceptionNr = ex.nr;
  e.exceptionInjected = ex.injected;
  e.exceptionPending = ex.pending;
  e.hasErrorCode = ex.has_error_code;
  e.errorCode = ex.error_code;
  e.hasPayload = hasPayload;
  e.payload = ev.exception_payload as bigint;
  e.interruptNr = irq.nr;
  e.nmiMasked = nmi.masked;
  if (flags & VALID_TRIPLE_FAULT && !capEnabled(vcpu, call, 'KVM_CAP_X86_TRIPLE_FAULT_EVENT')) fail(Errno.EINVAL, 'triple fault without KVM_CAP_X86_TRIPLE_FAULT_EVENT');
  return 0;
}

function setMpState(call: Call): number {
  const vcpu = vcpuOf(call);
  const m = readArg(call).mp_state as number;
  if (!vcpu.lapic && m !== MP_STATE_RUNNABLE) fail(Errno.EINVAL, 'only RUNNABLE without an in-kernel APIC');
  if (m !== MP_STATE_RUNNABLE && m !== MP_STATE_HALTED) fail(Errno.EINVAL, `mp_state ${m}: the emulated core has no INIT/SIPI model`);
  vcpu.mpState = m;
  return 0;
}

function lapicOf(call: Call) {
  const l = vcpuOf(call).lapic;
  if (!l) fail(Errno.EINVAL, 'no in-kernel local APIC');
  return l;
}

/** The FXSAVE image of the core's FPU bytes (the legacy area of XSAVE). */
function fxsave(vcpu: VcpuObject, into: Uint8Array): void {
  const f = vcpu.core.getFpu();
  const v = new DataView(into.buffer, into.byteOffset, into.byteLength);
  v.setUint16(0, f.fcw, true);
  v.setUint16(2, f.fsw, true);
  into[4] = f.ftwx;
  v.setUint16(6, f.last_opcode, true);
  v.setBigUint64(8, f.last_ip, true);
  v.setBigUint64(16, f.last_dp, true);
  v.setUint32(24, f.mxcsr, true);
  // MXCSR_MASK: every MXCSR bit writable, DAZ included.
  v.setUint32(28, 0xffff, true);
  f.fpr.forEach((r, i) => into.set(r.subarray(0, 16), 32 + 16 * i));
  f.xmm.forEach((r, i) => into.set(r.subarray(0, 16), 160 + 16 * i));
}

function fromFxsave(vcpu: VcpuObject, b: Uint8Array): void {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  vcpu.core.setFpu({
    fcw: v.getUint16(0, true), fsw: v.getUint16(2, true), ftwx: b[4], last_opcode: v.getUint16(6, true),
    last_ip: v.getBigUint64(8, true), last_dp: v.getBigUint64(16, true), mxcsr: v.getUint32(24, true),
    fpr: Array.from({ length: 8 }, (_, i) => b.slice(32 + 16 * i, 48 + 16 * i)),
    xmm: Array.from({ length: 16 }, (_, i) => b.slice(160 + 16 * i, 176 + 16 * i)),
  });
}

function setXsave(call: Call): number {
  const vcpu = vcpuOf(call);
  const region = call.user.read(call.arg, XSAVE_SIZE);
  const v = new DataView(region.buffer, region.byteOffset, region.byteLength);
  const xstateBv = v.getBigUint64(512, true);
  if (xstateBv & ~XCR0_SUPPORTED) fail(Errno.EINVAL, `XSTATE_BV 0x${xstateBv.toString(16)}: the core holds x87 and SSE state only`);
  if (v.getUint32(24, true) & ~0xffff) fail(Errno.EINVAL, 'MXCSR reserved bits');
  vcpu.xsave = region.slice();
  fromFxsave(vcpu, region);
  return 0;
}

function getXsave(call: Call): number {
  const vcpu = vcpuOf(call);
  const out = vcpu.xsave ? vcpu.xsave.slice() : new Uint8Array(XSAVE_SIZE);
  fxsave(vcpu, out);
  if (!vcpu.xsave) new DataView(out.buffer).setBigUint64(512, 0n, true);
  const size = call.schema.arg.kind === 'pointer' ? call.structs.size(argStruct(call)) : XSAVE_SIZE;
  call.user.write(call.arg, out.subarray(0, Math.min(size, XSAVE_SIZE)));
  return 0;
}

function getXcrs(call: Call): number {
  const vcpu = vcpuOf(call);
  writeArg(call, { nr_xcrs: 1, flags: 0, xcrs: [{ xcr: 0, reserved: 0, value: vcpu.xcr0 }] });
  return 0;
}

/** XCR0 bits the guest may set: what its CPUID leaf 0xD offers (x87 always), within what the core holds. */
function guestSupportedXcr0(vcpu: VcpuObject): bigint {
  const d = vcpu.core.getCpuid().find((e) => e.function === 0xd && e.index === 0);
  const offered = d ? BigInt(d.eax >>> 0) | (BigInt(d.edx >>> 0) << 32n) : 0n;
  return (offered & XCR0_SUPPORTED) | 1n;
}

/** kvm_vcpu_ioctl_x86_set_xcrs / __kvm_set_xcr. */
function setXcrs(call: Call): number {
  const vcpu = vcpuOf(call);
  const supported = guestSupportedXcr0(vcpu);
  const x = readArg(call);
  const n = x.nr_xcrs as number;
  if (n > 16 || x.flags !== 0) fail(Errno.EINVAL, `nr_xcrs ${n}`);
  for (const e of (x.xcrs as Fields[]).slice(0, n)) {
    if (e.xcr !== 0) continue;
    const v = e.value as bigint;
    if ((v & 1n) === 0n || v & ~supported) fail(Errno.EINVAL, `XCR0 0x${v.toString(16)}`);
    vcpu.xcr0 = v;
    break;
  }
  return 0;
}

function getSregs2(call: Call): number {
  const vcpu = vcpuOf(call);
  const s = vcpu.core.getSregs();
  const pae = (s.cr0 & (1n << 31n)) !== 0n && (s.cr4 & (1n << 5n)) !== 0n && (s.efer & (1n << 10n)) === 0n;
  const { interrupt_bitmap: _, ...rest } = s;
  void _;
  let pdptrs = [0n, 0n, 0n, 0n];
  if (pae) {
    const at = Number(s.cr3 & 0xffffffe0n);
    const b = vcpu.vm.machine.memory.read(at, 32);
    const v = new DataView(b.buffer, b.byteOffset, 32);
    pdptrs = [0, 1, 2, 3].map((i) => v.getBigUint64(8 * i, true));
  }
  writeArg(call, { ...(rest as unknown as Fields), flags: pae ? BigInt(SREGS2_FLAGS_PDPTRS_VALID) : 0n, pdptrs });
  return 0;
}

function setSregs2(call: Call): number {
  const vcpu = vcpuOf(call);
  const s = readArg(call);
  const flags = s.flags as bigint;
  if (flags & ~BigInt(SREGS2_FLAGS_PDPTRS_VALID)) fail(Errno.EINVAL, `sregs2 flags 0x${flags.toString(16)}`);
  checkSregs(s);
  const pae = ((s.cr0 as bigint) & (1n << 31n)) !== 0n && ((s.cr4 as bigint) & (1n << 5n)) !== 0n && ((s.efer as bigint) & (1n << 10n)) === 0n;
  if (flags && !pae) fail(Errno.EINVAL, 'PDPTRs without PAE paging');
  const bitmap = vcpu.core.getSregs().interrupt_bitmap;
  vcpu.core.setSregs({ ...(s as unknown as KvmSregs), interrupt_bitmap: bitmap });
  vcpu.stateLoaded = true;
  vcpu.cr8 = s.cr8 as bigint;
  return 0;
}

function setTscKhz(call: Call): number {
  const vcpu = vcpuOf(call);
  let khz = argValue(call) >>> 0;
  if (khz === 0) khz = vcpu.vm.clock.tscKhz;
  vcpu.tscKhz = khz;
  if (vcpu.vm.vcpus.values().next().value === vcpu) vcpu.vm.clock.tscKhz = khz;
  return 0;
}

function setupMce(call: Call): number {
  const vcpu = vcpuOf(call);
  const cap = call.structs.decodeAs({ kind: 'scalar', scalar: 'u64' }, call.user.read(call.arg, 8)) as bigint;
  const banks = Number(cap & 0xffn);
  if (banks === 0 || banks > KVM_MAX_MCE_BANKS) fail(Errno.EINVAL, `${banks} MCE banks`);
  if (cap & ~(MCG_CTL_P | MCG_SER_P | 0xffn | 0xff0000n)) fail(Errno.EINVAL, `MCG_CAP 0x${cap.toString(16)}`);
  vcpu.msrs.setupMce(cap);
  return 0;
}

function tprAccessReporting(call: Call): number {
  const vcpu = vcpuOf(call);
  const t = readArg(call);
  if (t.flags !== 0) fail(Errno.EINVAL, 'tpr access flags');
  if (t.enabled) fail(Errno.EINVAL, 'the emulated core cannot report TPR accesses (KVM_EXIT_TPR_ACCESS)');
  vcpu.tprAccessReporting = 0;
  writeArg(call, t);
  return 0;
}

function setVapicAddr(call: Call): number {
  const vcpu = vcpuOf(call);
  if (!vcpu.lapic) fail(Errno.EINVAL, 'no in-kernel local APIC');
  const a = readArg(call).vapic_addr as bigint;
  if (a !== 0n) fail(Errno.EINVAL, 'the emulated core does not keep a VAPIC page in sync');
  vcpu.vapicAddr = a;
  return 0;
}

export const vcpuKvmHandlers: Record<string, Handler> = {
  KVM_GET_VCPU_EVENTS: getVcpuEvents,
  KVM_SET_VCPU_EVENTS: setVcpuEvents,
  KVM_GET_MP_STATE: (call) => {
    writeArg(call, { mp_state: vcpuOf(call).mpState });
    return 0;
  },
  KVM_SET_MP_STATE: setMpState,
  KVM_GET_LAPIC: (call) => {
    call.user.write(call.arg, lapicOf(call).save());
    return 0;
  },
  KVM_SET_LAPIC: (call) => {
    const l = lapicOf(call);
    l.load(call.user.read(call.arg, 1024));
    return 0;
  },
  KVM_SET_XSAVE: setXsave,
  KVM_GET_XSAVE: getXsave,
  KVM_GET_XSAVE2: getXsave,
  KVM_GET_XCRS: getXcrs,
  KVM_SET_XCRS: setXcrs,
  KVM_GET_SREGS2: getSregs2,
  KVM_SET_SREGS2: setSregs2,
  KVM_GET_TSC_KHZ: (call) => vcpuOf(call).tscKhz ?? vcpuOf(call).vm.clock.tscKhz,
  KVM_SET_TSC_KHZ: setTscKhz,
  KVM_X86_SETUP_MCE: setupMce,
  KVM_TPR_ACCESS_REPORTING: tprAccessReporting,
  KVM_SET_VAPIC_ADDR: setVapicAddr,
  KVM_KVMCLOCK_CTRL: (call) => {
    if ((vcpuOf(call).msrs.read(MSR_KVM_SYSTEM_TIME)! & 1n) === 0n) fail(Errno.EINVAL, 'kvmclock is not enabled');
    return 0;
  },
  // KVM_GUESTDBG_ENABLE and the rest need single-step and breakpoints, which the core does not take.
  KVM_SET_GUEST_DEBUG: (call) => {
    const d = readArg(call);
    const control = d.control as number;
    if (control & 1) fail(Errno.EINVAL, 'the emulated core has no single-step or debug-register breakpoints');
    vcpuOf(call).guestDebug = control;
    return 0;
  },
  KVM_ENABLE_CAP: (call) => {
    const c = readArg(call);
    if (c.flags !== 0) fail(Errno.EINVAL, 'ENABLE_CAP flags must be 0');
    fail(Errno.EINVAL, `vCPU capability ${String(c.cap)} cannot be enabled on the emulated core`);
  },
};
