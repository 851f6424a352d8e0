// How a replay's outcome reads: a few lines for people, one JSON object for scripts.

import type { Divergence, ReplaySummary } from './divergence.js';

function divergenceLines(d: Divergence): string[] {
  const lines = [`first divergence at seq ${d.seq}: ${d.name} on ${d.object}`, `  ${d.what}: recorded ${d.recorded}, replayed ${d.replayed}`];
  if (d.source) lines.push(`  source: ${d.source}`);
  if (d.guest) lines.push(`  guest: ${d.guest.vcpu} in ${d.guest.mode} mode at rip ${d.guest.rip}${d.guest.instruction ? `: ${d.guest.instruction}` : ''}`);
  return lines;
}

export function textReport(path: string, s: ReplaySummary): string {
  const lines = [`replay of ${path} against ${s.against}: ${s.events} events read, ${s.replayed} re-driven`];
  const skipped = Object.entries(s.skipped);
  for (const [why, n] of skipped) lines.push(`  skipped ${n} ${why}`);
  const h = s.firstHostDifference;
  if (h) lines.push(`  ${s.hostDifferences} answers about the host differ (expected on another driver), first at seq ${h.seq}: ${h.name} ${h.what} recorded ${h.recorded}, replayed ${h.replayed}`);
  if (s.divergences && s.divergences.length > 1) {
    lines.push(`${s.divergences.length} divergences:`);
    for (const d of s.divergences) lines.push(...divergenceLines(d).map((l, i) => (i === 0 ? `- ${l.replace(/^first divergence/, 'divergence')}` : `  ${l}`)));
  } else if (s.divergence) {
    lines.push(...divergenceLines(s.divergence));
  } else {
    lines.push('no divergence: every output matched the recording');
  }
  if (s.stoppedAt) lines.push(`stopped before seq ${s.stoppedAt.seq}: ${Object.entries(s.stoppedAt.state).map(([k, v]) => `${k} ${v}`).join(', ')}`);
  if (s.truncated) lines.push(`warning: ${s.truncated}`);
  return lines.join('\n') + '\n';
}

export function jsonReport(s: ReplaySummary): string {
  return JSON.stringify(s) + '\n';
}
