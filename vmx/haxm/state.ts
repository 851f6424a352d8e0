// vcpu_state_t and fx_layout in terms of the core's KVM-shaped state. Registers go by the layout's
// field names (`_rax` is kvm_regs' `rax`), segments carry their attributes in segment_desc_t.ar in
// the VMX access-rights format HAXM's bit-fields spell out (type, desc, dpl, present, available,
// long_mode, operand_size, granularity, null).

import type { KvmFpu, KvmRegs, KvmSegment, KvmSregs, Vcpu } from '../index.js';
import type { Fields } from './call.js';

const AR = { s: 4, dpl: 5, present: 7, avl: 12, l: 13, db: 14, g: 15, unusable: 16 } as const;

/** segment_desc_t for a kvm_segment. */
function segmentDesc(s: KvmSegment): Fields {
  const ar = (s.type & 0xf) | (s.s << AR.s) | ((s.dpl & 3) << AR.dpl) | (s.present << AR.present) | (s.avl << AR.avl) | (s.l << AR.l) | (s.db << AR.db) | (s.g << AR.g) | (s.unusable << AR.unusable);
  return { selector: s.selector, limit: s.limit, base: s.base, ar };
}

function kvmSegment(d: Fields): KvmSegment {
  const ar = d.ar as number;
  const bit = (at: number) => (ar >>> at) & 1;
  return {
    base: d.base as bigint,
    limit: d.limit as number,
    selector: d.selector as number,
    type: ar & 0xf,
    s: bit(AR.s),
    dpl: (ar >>> AR.dpl) & 3,
    present: bit(AR.present),
    avl: bit(AR.avl),
    l: bit(AR.l),
    db: bit(AR.db),
    g: bit(AR.g),
    unusable: bit(AR.unusable),
  };
}

const SEGMENTS = ['cs', 'ss', 'ds', 'es', 'fs', 'gs', 'ldt', 'tr'] as const;
const TABLES = ['gdt', 'idt'] as const;
const CONTROL = ['cr0', 'cr2', 'cr3', 'cr4'] as const;
const MSR_SYSENTER_CS = 0x174;
const MSR_SYSENTER_ESP = 0x175;
const MSR_SYSENTER_EIP = 0x176;

/** The vcpu_state_t fields that hold kvm_sregs' segments, tables, control registers and EFER. */
export function sregsFields(s: KvmSregs): Fields {
  const out: Fields = {};
  for (const name of SEGMENTS) out[`_${name}`] = segmentDesc(s[name]);
  for (const name of TABLES) out[`_${name}`] = { base: s[name].base, limit: s[name].limit };
  for (const name of CONTROL) out[`_${name}`] = s[name];
  out._efer = Number(s.efer);
  return out;
}

/** kvm_sregs from vcpu_state_t's fields; what vcpu_state_t lacks (CR8, the APIC base, queued interrupts) from `base`. */
export function sregsOf(f: Fields, base: KvmSregs): KvmSregs {
  const sregs: KvmSregs = { ...base, efer: BigInt(f._efer as number) };
  for (const name of SEGMENTS) sregs[name] = kvmSegment(f[`_${name}`] as Fields);
  for (const name of TABLES) {
    const table = f[`_${name}`] as Fields;
    sregs[name] = { base: table.base as bigint, limit: table.limit as number };
  }
  for (const name of CONTROL) sregs[name] = f[`_${name}`] as bigint;
  return sregs;
}

/** vcpu_get_regs: the whole vcpu_state_t (no activity state or interruptibility: the core models neither). */
export function stateOf(core: Vcpu): Fields {
  const debug = core.getDebugRegs();
  const out: Fields = sregsFields(core.getSregs());
  for (const [name, value] of Object.entries(core.getRegs())) out[`_${name}`] = value;
  debug.db.forEach((v, i) => (out[`_dr${i}`] = v));
  out._dr6 = debug.dr6;
  out._dr7 = debug.dr7;
  out._sysenter_cs = Number(core.rdmsr(MSR_SYSENTER_CS) ?? 0n);
  out._sysenter_esp = core.rdmsr(MSR_SYSENTER_ESP) ?? 0n;
  out._sysenter_eip = core.rdmsr(MSR_SYSENTER_EIP) ?? 0n;
  return out;
}

/** vcpu_set_regs: everything vcpu_state_t holds; CR8, the APIC base and a queued interrupt stay as they were. */
export function loadState(core: Vcpu, f: Fields): void {
  const regs = core.getRegs();
  for (const name of Object.keys(regs) as (keyof KvmRegs)[]) regs[name] = f[`_${name}`] as bigint;
  core.setSregs(sregsOf(f, core.getSregs()));
  core.setRegs(regs);
  core.setDebugRegs({ db: [0, 1, 2, 3].map((i) => f[`_dr${i}`] as bigint), dr6: f._dr6 as bigint, dr7: f._dr7 as bigint });
  core.setMsrs([
    { index: MSR_SYSENTER_CS, data: BigInt(f._sysenter_cs as number) },
    { index: MSR_SYSENTER_ESP, data: f._sysenter_esp as bigint },
    { index: MSR_SYSENTER_EIP, data: f._sysenter_eip as bigint },
  ]);
}

/** FXSAVE's MXCSR_MASK with DAZ supported; the core keeps no mask of its own. */
const MXCSR_MASK = 0xffff;
const REGISTER_BYTES = 16;

const flat = (registers: Uint8Array[]): Uint8Array => {
  const out = new Uint8Array(registers.length * REGISTER_BYTES);
  registers.forEach((r, i) => out.set(r.subarray(0, REGISTER_BYTES), i * REGISTER_BYTES));
  return out;
};
const split = (bytes: Uint8Array): Uint8Array[] => Array.from({ length: bytes.length / REGISTER_BYTES }, (_, i) => bytes.slice(i * REGISTER_BYTES, (i + 1) * REGISTER_BYTES));

/** fx_layout (FXSAVE format) of the core's FPU state: st_mm the x87 registers, mmx_1/mmx_2 XMM0-7 and XMM8-15. */
export function fxLayoutOf(fpu: KvmFpu): Fields {
  return {
    fcw: fpu.fcw,
    fsw: fpu.fsw,
    ftw: fpu.ftwx,
    fop: fpu.last_opcode,
    fpu_ip: fpu.last_ip,
    fpu_dp: fpu.last_dp,
    mxcsr: fpu.mxcsr,
    mxcsr_mask: MXCSR_MASK,
    st_mm: flat(fpu.fpr),
    mmx_1: flat(fpu.xmm.slice(0, 8)),
    mmx_2: flat(fpu.xmm.slice(8)),
  };
}

export function fpuOf(f: Fields): KvmFpu {
  return {
    fpr: split(f.st_mm as Uint8Array),
    fcw: f.fcw as number,
    fsw: f.fsw as number,
    ftwx: f.ftw as number,
    last_opcode: f.fop as number,
    last_ip: f.fpu_ip as bigint,
    last_dp: f.fpu_dp as bigint,
    xmm: [...split(f.mmx_1 as Uint8Array), ...split(f.mmx_2 as Uint8Array)],
    mxcsr: f.mxcsr as number,
  };
}
