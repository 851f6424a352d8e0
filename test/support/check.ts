// Runs the checker on a built trace and hands back its findings, one per context.
import { checkTrace, type CheckResult } from '../../checker/check.js';
import type { Finding } from '../../checker/finding.js';
import type { Suppression } from '../../checker/suppressions.js';
import { SchemaRegistry } from '../../schemas/registry.js';
import type { KvmTrace } from './kvm-trace-builder.js';

export function check(trace: KvmTrace, suppressions: Suppression[] = []): { result: CheckResult; findings: (Finding & { count: number })[]; path: string } {
  const path = trace.write();
  const result = checkTrace(path, SchemaRegistry.default(), { suppressions });
  return { result, path, findings: result.contexts.map((c) => ({ ...c.first, count: c.count })) };
}

/** Findings of one rule, without the interface notes. */
export function ofRule(findings: Finding[], rule: string): Finding[] {
  return findings.filter((f) => f.rule === rule && f.severity !== 'note');
}
