/**
 * Layer 2: the VMX model of one vCPU. It owns what KVM keeps in kernel (MSRs, the CPUID table,
 * the virtual TSC, FPU bytes, the queued interrupt), runs the CPU until something needs the
 * monitor, and turns that into a `VmExit`. State is read and written in KVM's shapes.
 */
import { Cpu, type SystemBus } from './cpu/cpu.js';
import { ExitRequest } from './cpu/faults.js';
import { IF } from './cpu/flags.js';
import { unfoldLinear } from './cpu/paging.js';
import { Seg, type Segment } from './cpu/segment.js';
import { CpuidTable } from './cpuid.js';
import { ExitReason, type VmExit } from './exits.js';
import type { Machine } from './machine.js';
import { APIC_BASE_BSP, MsrFile } from './msrs.js';
import { GPR_NAMES, type KvmCpuidEntry, type KvmDebugRegs, type KvmFpu, type KvmMsrEntry, type KvmRegs, type KvmSegment, type KvmSregs, resetFpu } from './state.js';

/** Virtual TSC ticks per retired instruction: a run's TSC readings depend only on its inputs. */
export const TSC_PER_INSTRUCTION = 4n;

export interface RunOptions {
  /** Stop with PREEMPTION_TIMER after this many more retired instructions. Unbounded when absent. */
  maxInstructions?: number;
  /**
   * kvm_run.request_interrupt_window: stop with INTERRUPT_WINDOW at the first instruction
   * boundary where an interrupt could be injected (IF=1, no shadow, none queued).
   */
  requestInterruptWindow?: boolean;
}

const SEGMENT_KEYS = [
  ['es', Seg.ES],
  ['cs', Seg.CS],
  ['ss', Seg.SS],
  ['ds', Seg.DS],
  ['fs', Seg.FS],
  ['gs', Seg.GS],
  ['ldt', Seg.LDTR],
  ['tr', Seg.TR],
] as const;

const TWO48 = 2 ** 48;
/** A folded linear address (below 2^48) or a signed base value as the u64 KVM shows. */
const toU64 = (v: number, folded: boolean): bigint => BigInt.asUintN(64, BigInt(folded ? unfoldLinear(v) : v));
const fromU64 = (v: bigint): number => Number(BigInt.asIntN(64, v));

export class Vcpu implements SystemBus {
  readonly cpu: Cpu;
  readonly msrs: MsrFile;
  readonly cpuidTable = new CpuidTable();
  private fpu: KvmFpu = resetFpu();
  private tscOffset = 0n;

  /** `id` is KVM_CREATE_VCPU's argument (the APIC id); vCPU 0 is the bootstrap processor. */
  constructor(
    readonly machine: Machine,
    readonly id: number = machine.vcpus.length,
  ) {
    machine.vcpus.push(this);
    this.cpu = new Cpu(machine.memory, machine.code, this);
    this.msrs = new MsrFile(this.cpu, { read: () => this.rdtsc(), write: (v) => (this.tscOffset = v - this.ticks()) });
    // KVM's reset state: RDX holds a processor signature (0x600 before any CPUID is set), and
    // only the first vCPU is the bootstrap processor.
    this.cpu.lo[2] = 0x600;
    if (this.id !== 0) this.msrs.apicBase &= ~APIC_BASE_BSP;
  }

  // ------------------------------------------------------------ running

  /**
   * Run until an exit. Completes first whatever the last exit left pending (an I/O instruction,
   * the restart of an instruction after an MMIO read, queued MMIO-write exits).
   */
  run(options: RunOptions = {}): VmExit {
    const c = this.cpu;
    if (c.pendingMmio !== undefined) throw new Error('an MMIO read exit needs completeMmio(data) before the next run');
    const queued = c.postExits.shift();
    if (queued !== undefined) return queued;
    const stopAt = options.maxInstructions === undefined ? Infinity : c.icount + options.maxInstructions;
    c.wantWindow = options.requestInterruptWindow === true;
    try {
      return c.execute(stopAt) ?? { reason: ExitReason.PREEMPTION_TIMER };
    } catch (e) {
      if (e instanceof ExitRequest) return e.exit;
      throw e;
    } finally {
      c.wantWindow = false;
    }
  }

  /** Data for the IN (or INS) the last IO exit stopped at: `count * size` bytes. */
  completeIo(data: Uint8Array): void {
    if (this.cpu.pendingIo === undefined) throw new Error('no I/O instruction is waiting for data');
    this.cpu.ioData = data;
  }

  /** Data for the MMIO read the last exit stopped at; the instruction finishes on the next run. */
  completeMmio(data: Uint8Array): void {
    const p = this.cpu.pendingMmio;
    if (p === undefined) throw new Error('no MMIO read is waiting for data');
    this.cpu.mmioReads.push(data.slice(0, p.size));
    this.cpu.pendingMmio = undefined;
  }

  /** KVM_INTERRUPT: queue an external interrupt, delivered when IF=1 at an instruction boundary. */
  queueInterrupt(vector: number): void {
    if (this.cpu.pendingIrq >= 0) throw new Error(`interrupt ${this.cpu.pendingIrq} is still queued`);
    this.cpu.pendingIrq = vector & 0xff;
  }

  /** kvm_run.ready_for_interrupt_injection: an interrupt queued now would be taken at once. */
  get readyForInterruptInjection(): boolean {
    const c = this.cpu;
    return c.pendingIrq < 0 && (c.flags & IF) !== 0 && c.shadowAt !== c.icount;
  }

  /** RFLAGS (and its IF), CR8, the APIC base and the queued interrupt without building kvm_regs/kvm_sregs (exits report them). */
  get interruptsEnabled(): boolean {
    return (this.cpu.flags & IF) !== 0;
  }

  get cr8(): bigint {
    return BigInt(this.cpu.cr8);
  }

  get rflags(): bigint {
    return BigInt(this.cpu.flags);
  }

  /** An interrupt is queued and not yet delivered (kvm_sregs.interrupt_bitmap is not all zero). */
  get interruptQueued(): boolean {
    return this.cpu.pendingIrq >= 0;
  }

  get apicBase(): bigint {
    return this.msrs.apicBase;
  }

  /** Stop the current or next run at an instruction boundary with EXTERNAL_INTERRUPT (a signal's kick). */
  requestExit(): void {
    this.cpu.kick = true;
  }

  get instructionsRetired(): number {
    return this.cpu.icount;
  }

  // ------------------------------------------------------------ SystemBus (in-kernel services)

  cpuid(leaf: number, subleaf: number, out: Uint32Array): void {
    this.cpuidTable.lookup(leaf, subleaf, out);
  }

  rdmsr(index: number): bigint | undefined {
    return this.msrs.read(index);
  }

  wrmsr(index: number, value: bigint): boolean {
    return this.msrs.write(index, value);
  }

  private ticks(): bigint {
    return BigInt(this.cpu.icount) * TSC_PER_INSTRUCTION;
  }

  rdtsc(): bigint {
    return BigInt.asUintN(64, this.ticks() + this.tscOffset);
  }

  // ------------------------------------------------------------ state in KVM shapes

  getRegs(): KvmRegs {
    const c = this.cpu;
    const r: Record<string, bigint> = {};
    GPR_NAMES.forEach((name, k) => (r[name] = (BigInt(c.hi[k]) << 32n) | BigInt(c.lo[k])));
    r.rip = BigInt.asUintN(64, BigInt(c.rip));
    r.rflags = BigInt(c.flags);
    return r as unknown as KvmRegs;
  }

  setRegs(regs: KvmRegs): void {
    const c = this.cpu;
    GPR_NAMES.forEach((name, k) => {
      const v = BigInt.asUintN(64, regs[name]);
      c.lo[k] = Number(v & 0xffffffffn);
      c.hi[k] = Number(v >> 32n);
    });
    // Signed, so a canonical 64-bit RIP stays exact; setSregs cuts it for legacy modes.
    c.rip = c.bits === 64 ? fromU64(regs.rip) : fromU64(regs.rip) >>> 0;
    c.flags = (Number(regs.rflags & 0x3fffffn) | 2) >>> 0;
  }

  getSregs(): KvmSregs {
    const c = this.cpu;
    const seg = (s: Segment, index: number): KvmSegment => ({
      base: toU64(s.base, false),
      limit: s.limit >>> 0,
      selector: s.selector,
      type: s.type,
      present: s.present,
      dpl: s.dpl,
      db: s.db,
      s: s.s,
      l: s.l,
      g: s.g,
      avl: s.avl,
      unusable: index === Seg.CS ? 0 : s.unusable,
    });
    const out: Partial<KvmSregs> = {};
    for (const [key, index] of SEGMENT_KEYS) out[key] = seg(c.seg[index], index);
    const bitmap = [0n, 0n, 0n, 0n];
    if (c.pendingIrq >= 0) bitmap[c.pendingIrq >> 6] |= 1n << BigInt(c.pendingIrq & 63);
    return {
      ...(out as Pick<KvmSregs, 'cs' | 'ds' | 'es' | 'fs' | 'gs' | 'ss' | 'tr' | 'ldt'>),
      gdt: { base: toU64(c.gdtBase, true), limit: c.gdtLimit },
      idt: { base: toU64(c.idtBase, true), limit: c.idtLimit },
      cr0: BigInt(c.cr0 >>> 0),
      cr2: toU64(c.cr2, (c.efer & 0x400) !== 0),
      cr3: BigInt(c.cr3),
      cr4: BigInt(c.cr4 >>> 0),
      cr8: BigInt(c.cr8),
      efer: BigInt(c.efer),
      apic_base: this.msrs.apicBase,
      interrupt_bitmap: bitmap,
    };
  }

  /** KVM_SET_SREGS: loaded as given (no consistency checks beyond what the CPU needs to run). */
  setSregs(s: KvmSregs): void {
    const c = this.cpu;
    for (const [key, index] of SEGMENT_KEYS) {
      const src = s[key];
      const dst = c.seg[index];
      dst.base = fromU64(src.base);
      dst.limit = src.limit >>> 0;
      dst.selector = src.selector;
      dst.type = src.type;
      dst.present = src.present;
      dst.dpl = src.dpl;
      dst.db = src.db;
      dst.s = src.s;
      dst.l = src.l;
      dst.g = src.g;
      dst.avl = src.avl;
      dst.unusable = src.unusable;
    }
    const lin = (v: bigint): number => {
      const n = fromU64(v);
      return n < 0 ? n + TWO48 : n;
    };
    c.gdtBase = lin(s.gdt.base);
    c.gdtLimit = s.gdt.limit & 0xffff;
    c.idtBase = lin(s.idt.base);
    c.idtLimit = s.idt.limit & 0xffff;
    c.cr0 = Number(s.cr0 & 0xffffffffn) >>> 0;
    c.cr2 = lin(s.cr2);
    c.cr3 = Number(s.cr3);
    c.cr4 = Number(s.cr4 & 0xffffffffn) >>> 0;
    c.cr8 = Number(s.cr8 & 0xfn);
    c.efer = Number(s.efer & 0xffffn);
    this.msrs.apicBase = s.apic_base;
    const pending = s.interrupt_bitmap.findIndex((w) => w !== 0n);
    c.pendingIrq = pending < 0 ? -1 : pending * 64 + s.interrupt_bitmap[pending].toString(2).length - 1;
    c.updateMode();
    if (c.bits !== 64) c.rip >>>= 0;
    c.flushTranslations();
  }

  getMsrs(indices: readonly number[]): KvmMsrEntry[] {
    const out: KvmMsrEntry[] = [];
    for (const index of indices) {
      const data = this.msrs.read(index);
      if (data === undefined) break;
      out.push({ index, data });
    }
    return out;
  }

  /** KVM_SET_MSRS: stops at the first MSR it cannot set; returns how many were set. */
  setMsrs(entries: readonly KvmMsrEntry[]): number {
    let n = 0;
    for (const e of entries) {
      if (!this.msrs.write(e.index, e.data, true)) break;
      n++;
    }
    return n;
  }

  getFpu(): KvmFpu {
    return structuredClone(this.fpu);
  }

  setFpu(fpu: KvmFpu): void {
    this.fpu = structuredClone(fpu);
  }

  getDebugRegs(): KvmDebugRegs {
    const d = this.cpu.dr;
    return { db: d.slice(0, 4), dr6: d[6], dr7: d[7] };
  }

  setDebugRegs(r: KvmDebugRegs): void {
    const d = this.cpu.dr;
    for (let k = 0; k < 4; k++) d[k] = r.db[k];
    d[6] = r.dr6;
    d[7] = r.dr7;
  }

  /** KVM_SET_CPUID2. */
  setCpuid(entries: readonly KvmCpuidEntry[]): void {
    this.cpuidTable.set(entries);
  }

  getCpuid(): KvmCpuidEntry[] {
    return this.cpuidTable.get();
  }
}
