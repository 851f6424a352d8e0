/**
 * VM exits of the emulated VMX core.
 *
 * `reason` carries the VMX basic exit reason number (Intel SDM vol. 3, appendix C) so that a
 * front-end can map each exit to the ABI it serves (KVM_EXIT_IO for IO_INSTRUCTION, ...).
 * The instruction budget reports the VMX preemption-timer reason and a kick EXTERNAL_INTERRUPT.
 * INTERNAL_ERROR is the one non-VMX reason: the emulator met something it cannot execute
 * (KVM's analogue is KVM_EXIT_INTERNAL_ERROR with suberror EMULATION).
 * CPUID, RDTSC, RDMSR and WRMSR are listed for completeness; KVM answers them in kernel and so
 * does the model, so `run()` never returns them.
 */
export const ExitReason = {
  EXTERNAL_INTERRUPT: 1,
  TRIPLE_FAULT: 2,
  INTERRUPT_WINDOW: 7,
  CPUID: 10,
  HLT: 12,
  RDTSC: 16,
  IO_INSTRUCTION: 30,
  RDMSR: 31,
  WRMSR: 32,
  EPT_VIOLATION: 48,
  EPT_MISCONFIG: 49,
  PREEMPTION_TIMER: 52,
  INTERNAL_ERROR: 0x10000,
} as const;

/** Reverse map for messages: reason number to its name. */
export const exitReasonName = (reason: number): string =>
  Object.entries(ExitReason).find(([, n]) => n === reason)?.[0] ?? `UNKNOWN_${reason}`;

/** A kick from outside (`Vcpu.requestExit`), reported at the next instruction boundary. */
export interface ExternalInterruptExit {
  reason: typeof ExitReason.EXTERNAL_INTERRUPT;
}

/** A fault while delivering a double fault: the guest is dead until its state is reset. */
export interface TripleFaultExit {
  reason: typeof ExitReason.TRIPLE_FAULT;
}

/** `run({ requestInterruptWindow: true })` reached a point where an interrupt could be injected. */
export interface InterruptWindowExit {
  reason: typeof ExitReason.INTERRUPT_WINDOW;
}

/** HLT with RIP already past the instruction (KVM_EXIT_HLT without an in-kernel irqchip). */
export interface HltExit {
  reason: typeof ExitReason.HLT;
}

/**
 * Port I/O. RIP still points at the instruction: it completes on the next `run()`, after
 * `completeIo(data)` for an IN (the front-end copies its kvm_run io data area there).
 * `data` holds `count * size` bytes laid out contiguously: the bytes written for OUT, a
 * zero-filled buffer the caller may use as scratch for IN.
 */
export interface IoExit {
  reason: typeof ExitReason.IO_INSTRUCTION;
  port: number;
  size: 1 | 2 | 4;
  direction: 'in' | 'out';
  count: number;
  string: boolean;
  rep: boolean;
  data: Uint8Array;
}

/**
 * An access to a guest-physical address outside every slot, or a write to a read-only slot
 * (KVM services these as MMIO, from EPT misconfigurations of its MMIO SPTEs). A read stops
 * before the instruction commits anything; `completeMmio(data)` then lets it finish. A write
 * exits after the instruction (or string iteration) completed; `data` holds the bytes written.
 */
export interface MmioExit {
  reason: typeof ExitReason.EPT_MISCONFIG;
  gpa: number;
  size: number;
  isWrite: boolean;
  data: Uint8Array;
}

/** A slot's EPT permissions denied an access. The instruction has not executed. */
export interface EptViolationExit {
  reason: typeof ExitReason.EPT_VIOLATION;
  gpa: number;
  /** Guest-linear address of the access. */
  linear: number;
  access: 'read' | 'write' | 'fetch';
  /** VMX exit qualification: bit 0 read, 1 write, 2 fetch, bits 3..5 the R/W/X the slot grants. */
  qualification: number;
}

/** The instruction budget given to `run()` is spent. */
export interface BudgetExit {
  reason: typeof ExitReason.PREEMPTION_TIMER;
}

/** The emulator cannot continue: an instruction it does not implement, or a state it cannot model. */
export interface InternalErrorExit {
  reason: typeof ExitReason.INTERNAL_ERROR;
  /** Human-readable cause, naming the instruction (NASM syntax) and its address. */
  message: string;
  /** The instruction text (NASM syntax), when an instruction is the cause. */
  instruction?: string;
  /** Guest-linear address of the instruction. */
  linear: number;
  /** The instruction bytes, when they could be fetched. */
  bytes?: Uint8Array;
}

export type VmExit =
  | ExternalInterruptExit
  | TripleFaultExit
  | InterruptWindowExit
  | HltExit
  | IoExit
  | MmioExit
  | EptViolationExit
  | BudgetExit
  | InternalErrorExit;
