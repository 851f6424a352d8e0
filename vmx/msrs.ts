/**
 * The MSRs KVM keeps in kernel for a vCPU. Unknown indices fail (the guest gets #GP, as KVM
 * does by default without ignore_msrs); writes are checked the way KVM checks them (canonical
 * addresses, valid PAT types, EFER reserved bits and the LME-while-paging rule).
 */
import { CR0, EFER } from './cpu/control-regs.js';
import type { Cpu } from './cpu/cpu.js';
import { Seg } from './cpu/segment.js';

export const Msr = {
  TSC: 0x10,
  PLATFORM_ID: 0x17,
  APIC_BASE: 0x1b,
  FEATURE_CONTROL: 0x3a,
  TSC_ADJUST: 0x3b,
  UCODE_REV: 0x8b,
  MTRRCAP: 0xfe,
  SYSENTER_CS: 0x174,
  SYSENTER_ESP: 0x175,
  SYSENTER_EIP: 0x176,
  MCG_CAP: 0x179,
  MCG_STATUS: 0x17a,
  MISC_ENABLE: 0x1a0,
  PAT: 0x277,
  MTRR_DEF_TYPE: 0x2ff,
  EFER: 0xc0000080,
  STAR: 0xc0000081,
  LSTAR: 0xc0000082,
  CSTAR: 0xc0000083,
  SFMASK: 0xc0000084,
  FS_BASE: 0xc0000100,
  GS_BASE: 0xc0000101,
  KERNEL_GS_BASE: 0xc0000102,
  TSC_AUX: 0xc0000103,
} as const;

/** Variable-range MTRR pairs 0x200..0x20f and the fixed-range MTRRs. */
const MTRR_RANGES = [...Array.from({ length: 16 }, (_, k) => 0x200 + k), 0x250, 0x258, 0x259, ...Array.from({ length: 8 }, (_, k) => 0x268 + k)];

/** Plain stored MSRs with their reset values (KVM's for a new vCPU). */
const STORED = new Map<number, bigint>([
  [Msr.PLATFORM_ID, 0n],
  [Msr.FEATURE_CONTROL, 0n],
  [Msr.TSC_ADJUST, 0n],
  [Msr.UCODE_REV, 0x100000000n],
  [Msr.SYSENTER_CS, 0n],
  [Msr.SYSENTER_ESP, 0n],
  [Msr.SYSENTER_EIP, 0n],
  [Msr.MCG_STATUS, 0n],
  // PEBS and BTS unavailable, as KVM initialises it.
  [Msr.MISC_ENABLE, 0x1800n],
  [Msr.PAT, 0x0007040600070406n],
  [Msr.MTRR_DEF_TYPE, 0n],
  [Msr.STAR, 0n],
  [Msr.LSTAR, 0n],
  [Msr.CSTAR, 0n],
  [Msr.SFMASK, 0n],
  [Msr.KERNEL_GS_BASE, 0n],
  [Msr.TSC_AUX, 0n],
  ...MTRR_RANGES.map((i) => [i, 0n] as [number, bigint]),
]);

/** Writes the guest may not make even though the MSR reads fine. */
const READ_ONLY = new Set<number>([Msr.MTRRCAP, Msr.MCG_CAP, Msr.PLATFORM_ID]);
const CANONICAL = new Set<number>([Msr.SYSENTER_ESP, Msr.SYSENTER_EIP, Msr.LSTAR, Msr.CSTAR, Msr.KERNEL_GS_BASE, Msr.FS_BASE, Msr.GS_BASE]);

const isCanonical = (v: bigint): boolean => BigInt.asIntN(48, v) === BigInt.asIntN(64, v);

const EFER_WRITABLE = BigInt(EFER.SCE | EFER.LME | EFER.NXE);

/** IA32_APIC_BASE after reset: the default base, enabled, BSP (bit 8) on the first vCPU only. */
export const APIC_BASE_BSP = 1n << 8n;
export const APIC_BASE_RESET = 0xfee00000n | (1n << 11n) | APIC_BASE_BSP;

export class MsrFile {
  private readonly stored = new Map(STORED);
  apicBase = APIC_BASE_RESET;

  constructor(
    private readonly cpu: Cpu,
    private readonly tsc: { read(): bigint; write(v: bigint): void },
  ) {}

  /** Every index this file answers (KVM_GET_MSR_INDEX_LIST analogue). */
  indices(): number[] {
    return [...new Set([Msr.TSC, Msr.APIC_BASE, Msr.MTRRCAP, Msr.MCG_CAP, Msr.EFER, Msr.FS_BASE, Msr.GS_BASE, ...this.stored.keys()])].sort((a, b) => a - b);
  }

  read(index: number): bigint | undefined {
    const c = this.cpu;
    switch (index >>> 0) {
      case Msr.TSC:
        return this.tsc.read();
      case Msr.APIC_BASE:
        return this.apicBase;
      case Msr.MTRRCAP:
        // Fixed ranges and write-combining supported, 8 variable ranges (KVM's value).
        return 0x508n;
      case Msr.MCG_CAP:
        return 0n;
      case Msr.EFER:
        return BigInt(c.efer);
      case Msr.FS_BASE:
        return BigInt.asUintN(64, BigInt(c.seg[Seg.FS].base));
      case Msr.GS_BASE:
        return BigInt.asUintN(64, BigInt(c.seg[Seg.GS].base));
      default:
        return this.stored.get(index >>> 0);
    }
  }

  /** Store an MSR. `host` writes (KVM_SET_MSRS) may set what the guest cannot (EFER.LMA, read-only MSRs). */
  write(index: number, value: bigint, host = false): boolean {
    const c = this.cpu;
    index >>>= 0;
    value = BigInt.asUintN(64, value);
    if (READ_ONLY.has(index)) return host;
    if (CANONICAL.has(index) && !isCanonical(value)) return false;
    switch (index) {
      case Msr.TSC:
        this.tsc.write(value);
        return true;
      case Msr.APIC_BASE:
        this.apicBase = value;
        return true;
      case Msr.EFER:
        return this.writeEfer(value, host);
      case Msr.FS_BASE:
      case Msr.GS_BASE:
        c.seg[index === Msr.FS_BASE ? Seg.FS : Seg.GS].base = Number(BigInt.asIntN(64, value));
        return true;
      case Msr.PAT:
        for (let k = 0n; k < 64n; k += 8n) if (![0n, 1n, 4n, 5n, 6n, 7n].includes((value >> k) & 0xffn)) return false;
        break;
      default:
        if (!this.stored.has(index)) return false;
    }
    this.stored.set(index, value);
    return true;
  }

  private writeEfer(value: bigint, host: boolean): boolean {
    const c = this.cpu;
    const writable = host ? EFER_WRITABLE | BigInt(EFER.LMA) : EFER_WRITABLE;
    if ((value & ~writable) !== 0n) return false;
    let v = Number(value);
    if (!host) {
      // LME cannot change while paging is on; LMA is the CPU's to set.
      if ((c.cr0 & CR0.PG) !== 0 && ((v ^ c.efer) & EFER.LME) !== 0) return false;
      v = (v & ~EFER.LMA) | (c.efer & EFER.LMA);
    }
    c.efer = v;
    c.updateMode();
    return true;
  }
}
