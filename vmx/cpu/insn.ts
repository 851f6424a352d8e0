/**
 * The pre-digested form of a decoded instruction. The decode cache holds one per instruction
 * start; execution reads only these plain fields (never the WASM-backed iced-x86 objects), so
 * running a cached instruction allocates nothing.
 */
import type { Cpu } from './cpu.js';

export type Handler = (c: Cpu, i: Insn) => void;

/** Operand kinds. */
export const K = { NONE: 0, REG: 1, REGH: 2, MEM: 3, IMM: 4, SEG: 5, CR: 6, DR: 7 } as const;

/** `base` value meaning RIP-relative addressing. */
export const BASE_RIP = 16;

export class Insn {
  /** Executes the instruction; picked at decode time from the mnemonic. */
  fn: Handler = unimplemented;
  /** Sub-operation for handlers shared by a family (ALU op, shift kind, condition code, ...). */
  sub = 0;
  len = 0;
  /** Operand size in bytes (destination size for movzx/movsx). */
  osz = 4;
  /** Source size in bytes, where it differs from osz (movzx, movsx, shifts by CL...). */
  ssz = 4;
  /** Address size in bytes (2, 4, 8). */
  asz = 4;
  k0 = 0;
  r0 = 0;
  k1 = 0;
  r1 = 0;
  k2 = 0;
  r2 = 0;
  /** First immediate, truncated to 32 bits unsigned; immHi is the upper half of its 64-bit sign extension. */
  imm = 0;
  immHi = 0;
  /** Second immediate (enter's nesting level). */
  imm2 = 0;
  /** Segment of the memory operand (0..5, ES CS SS DS FS GS), -1 where 64-bit mode ignores the base. */
  seg = -1;
  base = -1;
  index = -1;
  scale = 1;
  /** Displacement as unsigned low half and signed high half (64-bit addressing). */
  disp = 0;
  dispHi = 0;
  /** REP/REPE = 1, REPNE = 2. */
  rep = 0;
  /** Branch displacement from the next instruction (position independent, for a physical cache). */
  rel = 0;
  /** Far JMP/CALL (pointer in farSel:farOff, or an m16:x memory operand). */
  far = false;
  farSel = 0;
  farOff = 0;
  /** NASM text, kept only for instructions the handlers reject. */
  text = '';
}

/** Placeholder until the decoder assigns a handler; never runs. */
function unimplemented(): void {
  throw new Error('instruction handler not assigned');
}
