// The text report, in valgrind's manner: `==PID==` on every line, one block per context with its
// count and first and last seq, interface notes apart, and the closing ERROR SUMMARY.

import { counts, type CheckResult } from './check.js';
import type { Context } from './finding.js';
import { suppressionFor } from './suppressions.js';

function block(c: Context, genSuppressions: boolean): string[] {
  const f = c.first;
  const p = `==${f.pid}==`;
  const times = c.count === 1 ? `once, at seq ${c.firstSeq}` : `${c.count} times, seq ${c.firstSeq} to ${c.lastSeq}`;
  const objects = [...c.objects];
  const lines = [`${p} ${f.message}`, `${p}    ${f.rule} (${f.severity}); ${times}${objects.length > 1 ? `; on ${objects.slice(0, 6).join(', ')}${objects.length > 6 ? ', ...' : ''}` : ''}`];
  if (f.field) lines.push(`${p}    field: ${f.field}`);
  if (f.allocSite) lines.push(`${p}    allocated at: ${f.allocSite}`);
  if (genSuppressions) lines.push(...suppressionFor(f).split('\n'));
  lines.push(p);
  return lines;
}

export function textReport(path: string, result: CheckResult, options: { genSuppressions?: boolean } = {}): string {
  const p = `==${result.pid}==`;
  const h = result.header;
  const lines = [
    `${p} ioctlgrind, a checker for hypervisor ioctls`,
    `${p} Trace: ${path} (${result.events} events, recorded by ${h.recorder}${h.memcheck ? ' under memcheck' : ''}${h.exact ? ', exact' : ''}, ${h.abi})`,
    `${p} Command: ${h.command.join(' ')}`,
    p,
  ];
  const errors = result.contexts.filter((c) => c.first.severity !== 'note');
  const notes = result.contexts.filter((c) => c.first.severity === 'note');
  for (const c of errors) lines.push(...block(c, options.genSuppressions ?? false));
  if (notes.length > 0) {
    lines.push(`${p} Interface notes (about the ABI itself, once per request):`);
    for (const c of notes) lines.push(`${p}    ${c.first.message}`);
    lines.push(p);
  }
  if (result.truncated) lines.push(`${p} warning: ${result.truncated}`);
  const n = counts(result);
  lines.push(`${p} ERROR SUMMARY: ${n.errors} errors from ${n.contexts} contexts (suppressed: ${n.suppressed} from ${n.suppressedContexts})`);
  return lines.join('\n') + '\n';
}
