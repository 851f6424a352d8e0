/**
 * Decoded instructions keyed by guest-physical address, one table per 4 KiB page and code size
 * (the same bytes decode differently in 16-, 32- and 64-bit code). Writes to a page holding
 * cached code drop the instructions overlapping the written bytes; the CPU routes such writes
 * to its slow path by never caching a write translation for a code page.
 */
import type { Insn } from './insn.js';

const MAX_INSN = 15;

class CodePage {
  /** Instruction tables for 16-, 32- and 64-bit code, created on first use. */
  readonly byMode: (Array<Insn | undefined> | undefined)[] = [undefined, undefined, undefined];
}

export const modeIndex = (bits: number): number => (bits === 64 ? 2 : bits === 32 ? 1 : 0);

export class DecodeCache {
  private readonly pages = new Map<number, CodePage>();
  /** Called when a page first gets code, so CPUs drop write translations to it. */
  onNewCodePage: (() => void) | undefined;

  /** The instruction table for physical page `page` in the given code size, created if needed. */
  table(page: number, bits: number): Array<Insn | undefined> {
    let p = this.pages.get(page);
    if (p === undefined) {
      p = new CodePage();
      this.pages.set(page, p);
      this.onNewCodePage?.();
    }
    const m = modeIndex(bits);
    let t = p.byMode[m];
    if (t === undefined) {
      t = new Array<Insn | undefined>(4096).fill(undefined);
      p.byMode[m] = t;
    }
    return t;
  }

  hasCode(page: number): boolean {
    return this.pages.has(page);
  }

  /** Drop cached instructions overlapping [gpa, gpa+length). */
  invalidate(gpa: number, length: number): void {
    if (this.pages.size === 0) return;
    const first = Math.floor(gpa / 4096);
    const last = Math.floor((gpa + length - 1) / 4096);
    if (last - first > 2) {
      for (const page of [...this.pages.keys()]) if (page >= first && page <= last) this.pages.delete(page);
      return;
    }
    for (let page = first; page <= last; page++) {
      const p = this.pages.get(page);
      if (p === undefined) continue;
      const from = Math.max(gpa, page * 4096) - page * 4096;
      const to = Math.min(gpa + length, (page + 1) * 4096) - page * 4096;
      for (const t of p.byMode) {
        if (t === undefined) continue;
        for (let k = Math.max(0, from - MAX_INSN + 1); k < to; k++) {
          const insn = t[k];
          if (insn !== undefined && k + insn.len > from) t[k] = undefined;
        }
      }
    }
  }
}
