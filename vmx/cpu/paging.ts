/**
 * Linear to guest-physical translation: 32-bit paging (with 4 MiB pages under CR4.PSE), PAE and
 * 4-level paging, with the accessed and dirty bits set as hardware sets them (guests and traces
 * can see them). PDPTEs are read at walk time rather than latched at CR3 load, and reserved bits
 * are not checked.
 */
import { GuestFault, Vec } from './faults.js';

export const Access = { READ: 0, WRITE: 1, FETCH: 2 } as const;

export const PagingMode = { NONE: 0, BITS32: 1, PAE: 2, LEVEL4: 3 } as const;

const P = 1;
const RW = 2;
const US = 4;
const A = 0x20;
const D = 0x40;
const PS = 0x80;
const TWO32 = 4294967296;

/*
 * Linear addresses are numbers below 2^48: a canonical 64-bit address keeps its low 48 bits
 * ("folded"), so high-half addresses stay exact in a double and index the tables directly.
 */

/** Fold a 64-bit value given as halves into a linear address (bits 48..63 dropped). */
export const foldLinear = (hi: number, lo: number): number => (hi & 0xffff) * TWO32 + lo;

/** The signed canonical value of a folded linear address (for CR2 and table bases shown as 64-bit). */
export const unfoldLinear = (lin: number): number => (lin >= 2 ** 47 ? lin - 2 ** 48 : lin);

/** What the walker needs from the CPU: physical access to page tables and control state. */
export interface WalkContext {
  pagingMode: number;
  cr3: number;
  cr2: number;
  /** CR0.WP: supervisor writes honour read-only pages. */
  writeProtect: boolean;
  /** EFER.NXE: bit 63 of entries forbids fetches. */
  noExecute: boolean;
  physRead32(pa: number): number;
  physWrite32(pa: number, v: number): void;
}

/** Translate `lin`; throws #PF (with CR2 set) when the walk or the permissions fail. */
export function translate(c: WalkContext, lin: number, access: number, user: boolean): number {
  switch (c.pagingMode) {
    case PagingMode.NONE:
      return lin;
    case PagingMode.BITS32:
      return walk32(c, lin, access, user);
    default:
      return walkLong(c, lin, access, user);
  }
}

function fault(c: WalkContext, lin: number, access: number, user: boolean, present: boolean): never {
  c.cr2 = lin;
  const code = (present ? 1 : 0) | (access === Access.WRITE ? 2 : 0) | (user ? 4 : 0) | (access === Access.FETCH && c.noExecute ? 0x10 : 0);
  throw new GuestFault(Vec.PF, code);
}

/** Set A (and D on the leaf for writes) in an entry's low word, writing only when it changes. */
function touch(c: WalkContext, pa: number, lo: number, leaf: boolean, access: number): void {
  const want = lo | A | (leaf && access === Access.WRITE ? D : 0);
  if (want !== lo) c.physWrite32(pa, want);
}

function checkRights(c: WalkContext, lin: number, access: number, user: boolean, rights: number, nx: boolean): void {
  if (user && (rights & US) === 0) fault(c, lin, access, user, true);
  if (access === Access.WRITE && (rights & RW) === 0 && (user || c.writeProtect)) fault(c, lin, access, user, true);
  if (access === Access.FETCH && nx) fault(c, lin, access, user, true);
}

function walk32(c: WalkContext, lin: number, access: number, user: boolean): number {
  const pdeAddr = (c.cr3 & 0xfffff000) + (lin >>> 22) * 4;
  const pde = c.physRead32(pdeAddr) >>> 0;
  if ((pde & P) === 0) fault(c, lin, access, user, false);
  if (pde & PS) {
    checkRights(c, lin, access, user, pde, false);
    touch(c, pdeAddr, pde, true, access);
    return (pde & 0xffc00000) + (lin & 0x3fffff);
  }
  const pteAddr = (pde & 0xfffff000) + ((lin >>> 12) & 0x3ff) * 4;
  const pte = c.physRead32(pteAddr) >>> 0;
  if ((pte & P) === 0) fault(c, lin, access, user, false);
  checkRights(c, lin, access, user, pde & pte, false);
  touch(c, pdeAddr, pde, false, access);
  touch(c, pteAddr, pte, true, access);
  return (pte & 0xfffff000) + (lin & 0xfff);
}

/** PAE (3 levels, from bit 30) and 4-level (from bit 39) walks share the 8-byte entry format. */
function walkLong(c: WalkContext, lin: number, access: number, user: boolean): number {
  const levels = c.pagingMode === PagingMode.LEVEL4 ? 4 : 3;
  let table = levels === 4 ? Math.floor(c.cr3 / 4096) * 4096 : c.cr3 & 0xffffffe0;
  let rights = RW | US;
  let nx = false;
  for (let level = levels; level >= 1; level--) {
    const shift = 12 + 9 * (level - 1);
    const index = level === 3 && levels === 3 ? Math.floor(lin / 2 ** 30) & 3 : Math.floor(lin / 2 ** shift) & 511;
    const addr = table + index * 8;
    const lo = c.physRead32(addr) >>> 0;
    const hi = c.physRead32(addr + 4) >>> 0;
    if ((lo & P) === 0) fault(c, lin, access, user, false);
    // PAE PDPTEs carry no rights bits.
    if (!(levels === 3 && level === 3)) rights &= lo;
    if (c.noExecute && hi >>> 31 === 1) nx = true;
    const frame = (hi & 0xfffff) * TWO32 + (lo & 0xfffff000);
    const leaf = level === 1 || (level <= 3 && (lo & PS) !== 0 && !(levels === 3 && level === 3));
    if (leaf) {
      checkRights(c, lin, access, user, rights, nx);
      touch(c, addr, lo, true, access);
      const pageSize = 2 ** shift;
      return frame - (frame % pageSize) + (lin % pageSize);
    }
    if (!(levels === 3 && level === 3)) touch(c, addr, lo, false, access);
    table = frame;
  }
  throw new Error('unreachable: page walk ended without a leaf');
}
