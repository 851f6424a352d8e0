/**
 * Decoding with iced-x86 and digestion into `Insn`. Only cache misses come here, so the cost
 * of crossing into WASM for each field is paid once per instruction start.
 */
import { Code, Decoder, DecoderError, DecoderOptions, Mnemonic, Formatter, FormatterSyntax, Instruction, MemorySizeExt, OpKind, Register, RegisterExt } from 'iced-x86';
import { BASE_RIP, Insn, K } from './insn.js';
import { HANDLERS, invalidOpcode, MOV_SPECIAL, unsupported } from './exec/table.js';

const scratch = new Instruction();
let formatter: Formatter | undefined;

/** NASM text of the instruction last decoded into `scratch`. */
function nasmText(): string {
  formatter ??= new Formatter(FormatterSyntax.Nasm);
  return formatter.format(scratch);
}

/** x86 number (0..15) of a general-purpose register of any size. */
const gprNumber = (reg: Register): number => RegisterExt.fullRegister(reg) - Register.RAX;

/** Map an iced general-purpose register to [index 0..15, kind]. */
function gpr(reg: Register): [number, number] {
  if (reg >= Register.AH && reg <= Register.BH) return [reg - Register.AH, K.REGH];
  return [gprNumber(reg), K.REG];
}

const SEGMENTS = [Register.ES, Register.CS, Register.SS, Register.DS, Register.FS, Register.GS];

/** Effective address size: the mode's default, switched by a 0x67 prefix. */
function addressSize(bytes: Uint8Array, len: number, bits: number): number {
  for (let k = 0; k < len; k++) {
    const b = bytes[k];
    if (b === 0x67) return bits === 64 ? 4 : bits === 32 ? 2 : 4;
    const prefix = b === 0x26 || b === 0x2e || b === 0x36 || b === 0x3e || b === 0x64 || b === 0x65 || b === 0x66 || b === 0xf0 || b === 0xf2 || b === 0xf3 || (bits === 64 && (b & 0xf0) === 0x40);
    if (!prefix) break;
  }
  return bits / 8;
}

function setOperand(insn: Insn, n: number, kind: number, reg: number): void {
  if (n === 0) {
    insn.k0 = kind;
    insn.r0 = reg;
  } else if (n === 1) {
    insn.k1 = kind;
    insn.r1 = reg;
  } else {
    insn.k2 = kind;
    insn.r2 = reg;
  }
}

/**
 * Decode the instruction at the start of `bytes` for a code segment of `bits` (16, 32, 64).
 * Returns undefined when `bytes` ends before the instruction does (the caller fetches more).
 */
export function decodeInsn(bytes: Uint8Array, bits: number): Insn | undefined {
  const decoder = new Decoder(bits, bytes, DecoderOptions.None);
  let error: DecoderError;
  try {
    decoder.ip = 0n;
    decoder.decodeOut(scratch);
    error = decoder.lastError;
  } finally {
    decoder.free();
  }
  if (error === DecoderError.NoMoreBytes) return undefined;
  const insn = new Insn();
  insn.len = scratch.length;
  if (scratch.code === Code.INVALID) {
    insn.len = 1;
    insn.fn = invalidOpcode;
    insn.text = '(bad)';
    return insn;
  }
  const entry = HANDLERS.get(scratch.mnemonic);
  if (!digestOperands(insn, bits, bytes) || entry === undefined) {
    insn.fn = unsupported;
    insn.text = nasmText();
    return insn;
  }
  const special = (k: number): boolean => k === K.SEG || k === K.CR || k === K.DR;
  insn.fn = scratch.mnemonic === Mnemonic.Mov && (special(insn.k0) || special(insn.k1)) ? MOV_SPECIAL : entry.fn;
  insn.sub = entry.sub ?? scratch.conditionCode;
  // Kept for messages: handlers may still refuse a form (task returns, VM86...).
  insn.text = nasmText();
  return insn;
}

/** Fill the operand fields; false when an operand is a register class the CPU does not model (TRn, x87, MMX, XMM...). */
function digestOperands(insn: Insn, bits: number, bytes: Uint8Array): boolean {
  const op = scratch.opCode;
  const encodedSize = op.operandSize / 8;
  op.free();
  insn.asz = addressSize(bytes, scratch.length, bits);
  insn.far = scratch.isJmpFar || scratch.isJmpFarIndirect || scratch.isCallFar || scratch.isCallFarIndirect;
  insn.rep = scratch.hasRepnePrefix ? 2 : scratch.hasRepPrefix || scratch.hasRepePrefix ? 1 : 0;
  let osz = encodedSize;
  let ssz = 0;
  let memSize = 0;
  const count = scratch.opCount;
  let immSeen = false;
  for (let n = 0; n < count; n++) {
    const kind = scratch.opKind(n);
    switch (kind) {
      case OpKind.Register: {
        const reg = scratch.opRegister(n);
        if (reg >= Register.ES && reg <= Register.GS) setOperand(insn, n, K.SEG, SEGMENTS.indexOf(reg));
        else if (reg >= Register.CR0 && reg <= Register.CR15) setOperand(insn, n, K.CR, reg - Register.CR0);
        else if (reg >= Register.DR0 && reg <= Register.DR15) setOperand(insn, n, K.DR, reg - Register.DR0);
        else if (!RegisterExt.isGPR(reg)) return false;
        else {
          const [index, k] = gpr(reg);
          setOperand(insn, n, k, index);
          const size = RegisterExt.size(reg);
          if (n === 0 && encodedSize === 0) osz = size;
          if (n === 1) ssz = size;
        }
        break;
      }
      case OpKind.MemoryESDI:
      case OpKind.MemoryESEDI:
      case OpKind.MemoryESRDI:
        // String destinations are always ES:rDI; `seg` names the (overridable) source segment.
        setOperand(insn, n, K.MEM, 0);
        memSize = MemorySizeExt.size(scratch.memorySize);
        if (n === 0 && osz === 0) osz = memSize;
        break;
      case OpKind.Memory:
      case OpKind.MemorySegSI:
      case OpKind.MemorySegESI:
      case OpKind.MemorySegRSI:
      case OpKind.MemorySegDI:
      case OpKind.MemorySegEDI:
      case OpKind.MemorySegRDI:
        setOperand(insn, n, K.MEM, 0);
        memSize = MemorySizeExt.size(scratch.memorySize);
        if (n === 0 && osz === 0) osz = memSize;
        if (n === 1) ssz = memSize;
        if (kind === OpKind.Memory) digestMemory(insn, bits);
        else insn.seg = SEGMENTS.indexOf(scratch.memorySegment);
        break;
      case OpKind.NearBranch16:
      case OpKind.NearBranch32:
      case OpKind.NearBranch64:
        // Decoded at ip 0, so the target is the displacement from address 0 (wrapped); subtract
        // the length to get it relative to the next instruction.
        insn.rel = Number(BigInt.asIntN(64, scratch.nearBranchTarget)) - scratch.length;
        break;
      case OpKind.FarBranch16:
      case OpKind.FarBranch32:
        insn.farSel = scratch.farBranchSelector;
        insn.farOff = kind === OpKind.FarBranch16 ? scratch.farBranch16 : scratch.farBranch32;
        break;
      case OpKind.Immediate8_2nd:
        insn.imm2 = scratch.immediate8_2nd;
        setOperand(insn, n, K.IMM, 0);
        break;
      default: {
        const v = BigInt.asUintN(64, scratch.immediate(n));
        if (!immSeen) {
          insn.imm = Number(v & 0xffffffffn);
          insn.immHi = Number(v >> 32n);
          immSeen = true;
        }
        setOperand(insn, n, K.IMM, 0);
        if (n === 1) ssz = ssz || osz;
        break;
      }
    }
  }
  if (osz === 0) osz = memSize || bits / 8;
  insn.osz = osz;
  insn.ssz = ssz || osz;
  return true;
}

function digestMemory(insn: Insn, bits: number): void {
  const seg = SEGMENTS.indexOf(scratch.memorySegment);
  // 64-bit mode ignores the bases of ES, CS, SS and DS.
  insn.seg = bits === 64 && seg < 4 ? -1 : seg;
  const base = scratch.memoryBase;
  const index = scratch.memoryIndex;
  insn.scale = scratch.memoryIndexScale;
  const disp = scratch.memoryDisplacement;
  if (base === Register.RIP || base === Register.EIP) {
    // iced gives the absolute target for ip 0; keep the offset from the next instruction.
    const rel = Number(BigInt.asIntN(64, disp)) - scratch.length;
    insn.base = BASE_RIP;
    insn.disp = rel >>> 0;
    insn.dispHi = rel < 0 ? -1 : 0;
    if (base === Register.EIP) insn.asz = 4;
  } else {
    insn.base = base === Register.None ? -1 : gprNumber(base);
    const d = BigInt.asUintN(64, disp);
    insn.disp = Number(d & 0xffffffffn);
    insn.dispHi = Number(BigInt.asIntN(32, d >> 32n));
  }
  insn.index = index === Register.None ? -1 : gprNumber(index);
}

