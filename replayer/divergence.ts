// What the replayer reports: the first (or every) place where the replayed outputs differ from the
// recorded ones, with the guest's context there and, where it knows, the source of the difference.

export interface GuestContext {
  vcpu: string;
  mode: 'real' | 'protected' | 'long' | 'unknown';
  rip: string;
  /** The instruction at rip, disassembled, where guest memory holds it. */
  instruction?: string;
}

export interface Divergence {
  seq: number;
  name: string;
  object: string;
  /** `ret`, `errno`, `exit.reason`, or a field path (`out.rip`, `run.io.port`, `addr -> data`). */
  what: string;
  recorded: string;
  replayed: string;
  /** Something the trace cannot pin that explains the difference (rdtsc, host CPUID, the in-kernel irqchip). */
  source?: string;
  guest?: GuestContext;
}

export interface ReplaySummary {
  events: number;
  replayed: number;
  divergence: Divergence | null;
  /** With --keep-going: every divergence, the first included. */
  divergences?: Divergence[];
  /** Events the replay could not re-drive, by reason (an fd it never saw opened, an unknown request). */
  skipped: Record<string, number>;
  against: string;
  /** Host queries (CHECK_EXTENSION, GET_SUPPORTED_CPUID, ...) the replay driver answered otherwise. */
  hostDifferences: number;
  firstHostDifference?: Divergence;
  /** Set when --until stopped the replay: the vCPU state there. */
  stoppedAt?: { seq: number; state: Record<string, string> };
  truncated?: string;
}
