// Suppressions, in valgrind's manner: a file of blocks, each naming a rule and patterns (`*` and `?`)
// for the request, the object and the field. `--gen-suppressions` writes blocks that match a finding.
//
//   {
//      vfio-probe-before-version
//      ioctlgrind:protocol
//      request:KVM_*_DEVICE_ATTR
//      object:vm*/device*
//      field:*
//   }

import { readFileSync } from 'node:fs';
import { RULE_IDS, type Finding, type RuleId } from './finding.js';

export interface Suppression {
  name: string;
  rule: RuleId | '*';
  request: RegExp;
  object: RegExp;
  field: RegExp;
  /** How many findings it hid. */
  used: number;
}

export class SuppressionError extends Error {}

function glob(pattern: string): RegExp {
  const body = pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${body}$`);
}

export function parseSuppressions(text: string, file: string): Suppression[] {
  const out: Suppression[] = [];
  const lines = text.split('\n');
  let block: { start: number; lines: string[] } | undefined;
  lines.forEach((raw, i) => {
    const line = raw.trim();
    const at = `${file}:${i + 1}`;
    if (line === '' || line.startsWith('#')) return;
    if (line === '{') {
      if (block) throw new SuppressionError(`${at}: '{' inside a suppression that began at line ${block.start}`);
      block = { start: i + 1, lines: [] };
      return;
    }
    if (line === '}') {
      if (!block) throw new SuppressionError(`${at}: '}' without '{'`);
      out.push(parseBlock(block.lines, `${file}:${block.start}`));
      block = undefined;
      return;
    }
    if (!block) throw new SuppressionError(`${at}: text outside a suppression block: ${line}`);
    block.lines.push(line);
  });
  if (block) throw new SuppressionError(`${file}:${block.start}: suppression not closed with '}'`);
  return out;
}

function parseBlock(lines: string[], at: string): Suppression {
  const [name, kind, ...rest] = lines;
  if (!name || !kind) throw new SuppressionError(`${at}: a suppression needs a name and an ioctlgrind:RULE line`);
  const m = /^ioctlgrind:(.+)$/.exec(kind);
  if (!m || (m[1] !== '*' && !RULE_IDS.includes(m[1] as RuleId))) throw new SuppressionError(`${at}: '${kind}' is not ioctlgrind:RULE (rules: ${RULE_IDS.join(', ')})`);
  const s: Suppression = { name, rule: m[1] as RuleId | '*', request: /^/, object: /^/, field: /^/, used: 0 };
  for (const line of rest) {
    const kv = /^(request|object|field):(.*)$/.exec(line);
    if (!kv) throw new SuppressionError(`${at}: '${line}' is not request:, object: or field:`);
    s[kv[1] as 'request' | 'object' | 'field'] = glob(kv[2].trim());
  }
  return s;
}

export function loadSuppressions(path: string): Suppression[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new SuppressionError(`${path}: cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  return parseSuppressions(text, path);
}

export function matches(s: Suppression, f: Finding): boolean {
  return (s.rule === '*' || s.rule === f.rule) && s.request.test(f.name) && s.object.test(f.object) && s.field.test(f.field ?? '');
}

/** A block that suppresses this finding's context (numbers in object paths become `*`). */
export function suppressionFor(f: Finding): string {
  const lines = ['{', `   <insert_a_suppression_name_here>`, `   ioctlgrind:${f.rule}`, `   request:${f.name}`, `   object:${f.object.replace(/\d+/g, '*')}`];
  if (f.field) lines.push(`   field:${f.field}`);
  lines.push('}');
  return lines.join('\n');
}
