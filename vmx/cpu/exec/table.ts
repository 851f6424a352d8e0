/**
 * The mnemonic-to-handler table the decoder consults, assembled from the instruction modules,
 * and the two handlers for what cannot run: invalid encodings (#UD to the guest) and valid
 * instructions this emulator does not implement (an internal-error exit naming them).
 */
import { Mnemonic } from 'iced-x86';
import type { Cpu } from '../cpu.js';
import { ud } from '../faults.js';
import type { Handler, Insn } from '../insn.js';
import { aluHandlers } from './alu.js';
import { controlHandlers } from './control.js';
import { conditionalHandlers, dataHandlers } from './data.js';
import { ioHandlers } from './io.js';
import { stringHandlers } from './strings.js';
import { movSpecial, systemHandlers } from './system.js';

/** [mnemonic, handler, sub]; a missing sub means "the instruction's condition code". */
export type HandlerTable = ReadonlyArray<readonly [Mnemonic, Handler, number?]>;

export interface HandlerEntry {
  fn: Handler;
  sub: number | undefined;
}

export const HANDLERS = new Map<Mnemonic, HandlerEntry>();
for (const table of [aluHandlers, dataHandlers, conditionalHandlers, controlHandlers, stringHandlers, ioHandlers, systemHandlers]) {
  for (const [m, fn, sub] of table) HANDLERS.set(m, { fn, sub });
}
// The architecturally undefined opcodes decode fine but raise #UD.
for (const m of [Mnemonic.Ud0, Mnemonic.Ud1, Mnemonic.Ud2]) HANDLERS.set(m, { fn: invalidOpcode, sub: 0 });

/** Handler for MOV with a segment, control or debug register operand. */
export const MOV_SPECIAL = movSpecial;

export function invalidOpcode(): void {
  throw ud();
}

export function unsupported(c: Cpu, i: Insn): void {
  throw c.internalError('', i);
}
