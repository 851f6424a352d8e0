// What the checker reports: one finding per problem it sees, grouped into contexts for the reports.

export const RULE_IDS = ['struct-size', 'direction', 'multiplexed-attr', 'uninitialised', 'unknown-ioctl', 'abi', 'kernel-pointer', 'protocol'] as const;
export type RuleId = (typeof RULE_IDS)[number];

export type Severity = 'error' | 'warning' | 'note';

export interface Finding {
  rule: RuleId;
  severity: Severity;
  seq: number;
  pid: number;
  /** The request's name, or its number in hex where no schema names it. */
  name: string;
  /** The object path (`vm0/vcpu1`). */
  object: string;
  /** The field or pointer path, where one is known. */
  field?: string;
  message: string;
  /** Region and byte range the finding is about. */
  region?: string;
  bytes?: [number, number];
  /** Where memcheck says the block was allocated. */
  allocSite?: string;
  /** An interface finding (about the ABI itself) is reported once per request, not per call. */
  interface?: boolean;
}

/** Findings that are the same problem at another call share a context. */
export function contextKey(f: Finding): string {
  return [f.rule, f.name, f.interface ? '' : f.object.replace(/\d+/g, '#'), f.field ?? '', f.message.replace(/0x[0-9a-f]+|\d+/g, '#')].join('\u0000');
}

export interface Context {
  first: Finding;
  count: number;
  firstSeq: number;
  lastSeq: number;
  /** Every object it was seen on. */
  objects: Set<string>;
}
