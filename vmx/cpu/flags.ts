/** RFLAGS bits and the parity table shared by every flag-producing instruction. */

export const CF = 1 << 0;
export const PF = 1 << 2;
export const AF = 1 << 4;
export const ZF = 1 << 6;
export const SF = 1 << 7;
export const TF = 1 << 8;
export const IF = 1 << 9;
export const DF = 1 << 10;
export const OF = 1 << 11;
export const IOPL = 3 << 12;
export const NT = 1 << 14;
export const RF = 1 << 16;
export const VM = 1 << 17;
export const AC = 1 << 18;
export const ID = 1 << 21;
/** Bit 1 reads as 1 always. */
export const FIXED1 = 1 << 1;
/** The six status flags arithmetic writes. */
export const STATUS = CF | PF | AF | ZF | SF | OF;
export const VIF = 1 << 19;
export const VIP = 1 << 20;
/** Bits POPF can change at CPL 0 (it never loads VM, VIF, VIP and clears RF). */
export const POPF_MASK = CF | PF | AF | ZF | SF | TF | IF | DF | OF | IOPL | NT | AC | ID;

/** PARITY[b] is PF when the low byte b has an even number of set bits. */
export const PARITY = new Uint8Array(256);
for (let b = 0; b < 256; b++) {
  let n = 0;
  for (let v = b; v !== 0; v >>= 1) n += v & 1;
  PARITY[b] = n % 2 === 0 ? PF : 0;
}

/**
 * Evaluate an iced-x86 ConditionCode (o=1, no, b, ae, e, ne, be, a, s, ns, p, np, l, ge, le, g=16)
 * against RFLAGS. Odd codes test a condition, the next even code its negation.
 */
export function testCondition(cc: number, f: number): boolean {
  let t: boolean;
  switch ((cc + 1) >> 1) {
    case 1: t = (f & OF) !== 0; break;
    case 2: t = (f & CF) !== 0; break;
    case 3: t = (f & ZF) !== 0; break;
    case 4: t = (f & (CF | ZF)) !== 0; break;
    case 5: t = (f & SF) !== 0; break;
    case 6: t = (f & PF) !== 0; break;
    case 7: t = ((f & SF) !== 0) !== ((f & OF) !== 0); break;
    default: t = (f & ZF) !== 0 || ((f & SF) !== 0) !== ((f & OF) !== 0); break;
  }
  return (cc & 1) === 1 ? t : !t;
}
