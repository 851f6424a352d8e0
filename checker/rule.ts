// The shape of a checker rule, and the state rules share while the trace is walked.

import type { Abi } from '../schemas/model.js';
import type { TraceEvent, TraceHeader } from '../traces/events.js';
import type { ObjectGraph, TraceObject } from '../traces/objects.js';
import type { SchemaRegistry } from '../schemas/registry.js';
import type { IoctlFacts } from './facts.js';
import type { Finding } from './finding.js';

export type Emit = (f: Omit<Finding, 'seq' | 'pid' | 'name' | 'object'> & Partial<Pick<Finding, 'name' | 'object'>>) => void;

export interface CheckState {
  header: TraceHeader;
  abi: Abi;
  registry: SchemaRegistry;
  graph: ObjectGraph;
  /** Interface findings already made, by rule and request, so each is reported once. */
  onceKeys: Set<string>;
}

export interface Rule {
  /** Called for every ioctl, before the object graph applies it (so it sees the state before). */
  ioctl?(facts: IoctlFacts, state: CheckState, emit: Emit): void;
  /** Called for every event after the graph applied it. */
  event?(event: TraceEvent, object: TraceObject | undefined): void;
}

/** True the first time `key` is seen: interface findings are made once per request. */
export function once(state: CheckState, key: string): boolean {
  if (state.onceKeys.has(key)) return false;
  state.onceKeys.add(key);
  return true;
}

/** Runs of set bits in a byte bitmap, as [start, end) byte ranges. */
export function bitRuns(bitmap: Uint8Array, length: number, keep: (i: number) => boolean = () => true): [number, number][] {
  const runs: [number, number][] = [];
  let start = -1;
  for (let i = 0; i <= length; i++) {
    const on = i < length && (bitmap[i >> 3] & (1 << (i & 7))) !== 0 && keep(i);
    if (on && start < 0) start = i;
    if (!on && start >= 0) { runs.push([start, i]); start = -1; }
  }
  return runs;
}

/** Runs of bytes that differ between two buffers. */
export function changedRuns(before: Uint8Array, after: Uint8Array, keep: (i: number) => boolean): [number, number][] {
  const n = Math.min(before.length, after.length);
  const bitmap = new Uint8Array((n + 7) >> 3);
  for (let i = 0; i < n; i++) if (before[i] !== after[i]) bitmap[i >> 3] |= 1 << (i & 7);
  return bitRuns(bitmap, n, keep);
}

export function rangeText([a, b]: [number, number]): string {
  return b - a === 1 ? `byte ${a}` : `bytes ${a}..${b - 1}`;
}
