// `check --json`: one finding a line with the contract's keys (rule, severity, seq, name, object,
// field, message), one line per context, with its count and last seq.

import type { CheckResult } from './check.js';

export function* jsonReport(result: CheckResult): Generator<string> {
  for (const c of result.contexts) {
    const f = c.first;
    yield JSON.stringify({
      rule: f.rule,
      severity: f.severity,
      seq: c.firstSeq,
      name: f.name,
      object: f.object,
      field: f.field ?? null,
      message: f.message,
      pid: f.pid,
      count: c.count,
      lastSeq: c.lastSeq,
      ...(f.region ? { region: f.region } : {}),
      ...(f.bytes ? { bytes: f.bytes } : {}),
      ...(f.allocSite ? { allocSite: f.allocSite } : {}),
      ...(f.interface ? { interface: true } : {}),
    });
  }
}
