/**
 * CPUID answered in kernel from the table KVM_SET_CPUID2 installed, with KVM's lookup rules
 * (arch/x86/kvm/cpuid.c, kvm_cpuid):
 * - an entry matches on function, and on index when its SIGNIFCANT_INDEX flag is set;
 * - a missing leaf beyond the range of its class (basic 0x0.., hypervisor 0x4000_00xx,
 *   extended 0x8000_0000.., Centaur 0xc000_0000..) is answered with the highest basic leaf,
 *   unless the vendor in leaf 0 is AMD or Hygon (the Intel rule);
 * - anything else missing reads as zeros, except leaves 0xb/0x1f where ECX echoes the subleaf
 *   and EDX (the x2APIC id) comes from subleaf 1.
 * KVM's runtime adjustments (OSXSAVE/OSPKE following CR4, the APIC bit following APIC_BASE)
 * are not applied: the table is answered as set.
 */
import { KVM_CPUID_FLAG_SIGNIFCANT_INDEX, type KvmCpuidEntry } from './state.js';

const ascii = (...words: number[]): string => words.map((w) => String.fromCharCode(w & 0xff, (w >>> 8) & 0xff, (w >>> 16) & 0xff, w >>> 24)).join('');

export class CpuidTable {
  private entries: KvmCpuidEntry[] = [];

  set(entries: readonly KvmCpuidEntry[]): void {
    this.entries = entries.map((e) => ({ ...e }));
  }

  get(): KvmCpuidEntry[] {
    return this.entries.map((e) => ({ ...e }));
  }

  private find(fn: number, index: number | undefined): KvmCpuidEntry | undefined {
    return this.entries.find((e) => e.function === fn && (index === undefined || (e.flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX) === 0 || e.index === index));
  }

  /** Fill out[0..3] with eax, ebx, ecx, edx. */
  lookup(fn: number, index: number, out: Uint32Array): void {
    fn >>>= 0;
    index >>>= 0;
    let entry = this.find(fn, index);
    if (entry === undefined) {
      const redirected = this.outOfRange(fn);
      if (redirected !== undefined) {
        fn = redirected;
        entry = this.find(fn, index);
      }
    }
    if (entry !== undefined) {
      out[0] = entry.eax;
      out[1] = entry.ebx;
      out[2] = entry.ecx;
      out[3] = entry.edx;
      return;
    }
    out.fill(0);
    if (fn === 0xb || fn === 0x1f) {
      const sub1 = this.find(fn, 1);
      if (sub1 !== undefined) {
        out[2] = index & 0xff;
        out[3] = sub1.edx;
      }
    }
  }

  /** The max basic leaf to answer `fn` with, when KVM's out-of-range rule applies. */
  private outOfRange(fn: number): number | undefined {
    const basic = this.find(0, undefined);
    if (basic === undefined) return undefined;
    const vendor = ascii(basic.ebx, basic.edx, basic.ecx);
    if (vendor === 'AuthenticAMD' || vendor === 'HygonGenuine') return undefined;
    const classLeaf = fn >= 0x40000000 && fn <= 0x4fffffff ? (fn & 0xffffff00) >>> 0 : fn >= 0xc0000000 ? 0xc0000000 : (fn & 0x80000000) >>> 0;
    const cls = this.find(classLeaf, undefined);
    if (cls !== undefined && fn <= cls.eax >>> 0) return undefined;
    return basic.eax >>> 0;
  }
}
