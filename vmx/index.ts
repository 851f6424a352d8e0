/** The emulated VMX core: public API for front-ends (see vmx/README.md). */
export { Machine } from './machine.js';
export { Vcpu, TSC_PER_INSTRUCTION, type RunOptions } from './vcpu.js';
export { GuestMemory, MemorySlot, Perm, PAGE_SIZE, type SlotSpec } from './memory.js';
export { ExitReason, exitReasonName } from './exits.js';
export type { VmExit, IoExit, MmioExit, EptViolationExit, HltExit, TripleFaultExit, InterruptWindowExit, BudgetExit, InternalErrorExit, ExternalInterruptExit } from './exits.js';
export { Msr } from './msrs.js';
export { KVM_CPUID_FLAG_SIGNIFCANT_INDEX, resetFpu } from './state.js';
export type { KvmRegs, KvmSregs, KvmSegment, KvmDtable, KvmFpu, KvmDebugRegs, KvmMsrEntry, KvmCpuidEntry } from './state.js';
export { Convention, conventionSregs, runConventionGuest, setupConventionGuest } from './boot.js';
export type { ConventionGuest, ConventionRunOptions, ConventionRunResult, GuestMode } from './boot.js';
