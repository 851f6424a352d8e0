// Walks a trace with the object graph and the schemas, runs every rule on every event, and groups
// the findings into contexts. Streams: memory grows with the distinct contexts, not the trace.

import { statSync } from 'node:fs';
import type { SchemaRegistry } from '../schemas/registry.js';
import type { TraceHeader } from '../traces/events.js';
import { ObjectGraph } from '../traces/objects.js';
import { TraceReader, truncationMessage } from '../traces/reader.js';
import { IoctlFacts } from './facts.js';
import { contextKey, type Context, type Finding } from './finding.js';
import type { CheckState, Emit } from './rule.js';
import { makeRules } from './rules/index.js';
import { matches, type Suppression } from './suppressions.js';

export interface CheckOptions {
  suppressions?: Suppression[];
  /** Called now and then with the bytes read and the file's size. */
  progress?: (done: number, total: number) => void;
}

export interface CheckResult {
  header: TraceHeader;
  /** In the order their first finding was made. */
  contexts: Context[];
  suppressions: Suppression[];
  events: number;
  /** The first pid of the trace: the monitor. */
  pid: number;
  truncated?: string;
}

export function counts(result: CheckResult): { errors: number; contexts: number; suppressed: number; suppressedContexts: number } {
  const counted = result.contexts.filter((c) => c.first.severity !== 'note');
  const used = result.suppressions.filter((s) => s.used > 0);
  return {
    errors: counted.reduce((n, c) => n + c.count, 0),
    contexts: counted.length,
    suppressed: used.reduce((n, s) => n + s.used, 0),
    suppressedContexts: used.length,
  };
}

export function checkTrace(path: string, registry: SchemaRegistry, options: CheckOptions = {}): CheckResult {
  const reader = TraceReader.open(path);
  const total = statSync(path).size;
  const header = reader.header;
  const state: CheckState = { header, abi: header.abi, registry, graph: new ObjectGraph(registry, header.abi), onceKeys: new Set() };
  const rules = makeRules();
  const suppressions = options.suppressions ?? [];
  const contexts = new Map<string, Context>();
  let events = 0;
  let pid = 0;
  for (const event of reader) {
    events++;
    if (events === 1) pid = event.pid;
    if (options.progress && (events & 0xfff) === 0) options.progress(reader.offset, total);
    const ctx = state.graph.apply(event);
    if (event.type === 'ioctl') {
      // The argument is laid out by the header the request came from, which may be a monitor's copy.
      const set = (ctx.schema && registry.setOf(ctx.schema)) ?? ctx.object?.set ?? undefined;
      const facts = new IoctlFacts(event, header, ctx.object, ctx.schema, set);
      const emit: Emit = (partial) => {
        const finding: Finding = { seq: event.seq, pid: event.pid, name: facts.name, object: facts.objectPath, ...partial };
        const s = suppressions.find((x) => matches(x, finding));
        if (s) { s.used++; return; }
        const key = contextKey(finding);
        const c = contexts.get(key);
        if (c) { c.count++; c.lastSeq = event.seq; c.objects.add(finding.object); }
        else contexts.set(key, { first: finding, count: 1, firstSeq: event.seq, lastSeq: event.seq, objects: new Set([finding.object]) });
      };
      for (const rule of rules) rule.ioctl?.(facts, state, emit);
    }
    for (const rule of rules) rule.event?.(event, ctx.object ?? ctx.created);
  }
  options.progress?.(total, total);
  const result: CheckResult = { header, contexts: [...contexts.values()], suppressions, events, pid };
  if (reader.truncated) result.truncated = truncationMessage(path, reader.truncated);
  return result;
}
