// The reports: valgrind-style text, JSON Lines with the contract's keys, SARIF 2.1.0; suppressions
// and their generation; --error-exitcode; a truncated trace.
import { readFileSync, truncateSync, writeFileSync, statSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseSuppressions } from '../checker/suppressions.js';
import { KvmTrace } from './support/kvm-trace-builder.js';
import { check } from './support/check.js';
import { cli } from './support/cli.js';

function faulty(): KvmTrace {
  const t = new KvmTrace({ memcheck: true }).standard();
  t.call(5, 'KVM_SET_REGS', { undef: [[8, 16]] });
  t.call(5, 'KVM_SET_REGS', { undef: [[8, 16]] });
  t.call(3, 'KVM_GET_DEVICE_ATTR', { in: { group: 0, attr: 0n, addr: 0x7000n }, payloads: { addr: { after: new Uint8Array(8) } } });
  return t;
}

describe('check reports', () => {
  it('prints blocks with counts and seqs and an ERROR SUMMARY, valgrind style', () => {
    const path = faulty().write();
    const r = cli(['check', path]);
    expect(r.status).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines.every((l) => l.startsWith('==4242==') || l === '{' || l === '}' || l.startsWith('   '))).toBe(true);
    expect(r.stdout).toContain('==4242== KVM_SET_REGS on vm0/vcpu0 reads uninitialised bytes 8..15 of the argument (rbx)');
    expect(r.stdout).toContain('==4242==    uninitialised (error); 2 times, seq 5 to 6');
    expect(r.stdout).toContain('Interface notes');
    expect(lines[lines.length - 1]).toBe('==4242== ERROR SUMMARY: 2 errors from 1 contexts (suppressed: 0 from 0)');
  });

  it('prints one JSON object a line with the contract keys', () => {
    const r = cli(['check', faulty().write(), '--json']);
    const rows = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
    for (const row of rows) for (const k of ['rule', 'severity', 'seq', 'name', 'object', 'field', 'message']) expect(row).toHaveProperty(k);
    expect(rows[0]).toMatchObject({ rule: 'uninitialised', severity: 'error', seq: 5, name: 'KVM_SET_REGS', object: 'vm0/vcpu0', field: 'rbx', count: 2 });
  });

  it('writes SARIF 2.1.0', () => {
    const r = cli(['check', faulty().write(), '--sarif']);
    const log = JSON.parse(r.stdout);
    expect(log.version).toBe('2.1.0');
    expect(log.runs[0].tool.driver.name).toBe('ioctlgrind');
    expect(log.runs[0].tool.driver.rules.map((x: { id: string }) => x.id)).toContain('uninitialised');
    expect(log.runs[0].results[0]).toMatchObject({ ruleId: 'uninitialised', level: 'error', occurrenceCount: 2 });
  });

  it('exits with --error-exitcode when errors are found, and 0 when there are none', () => {
    expect(cli(['check', faulty().write(), '--error-exitcode', '3']).status).toBe(3);
    expect(cli(['check', new KvmTrace().standard().write(), '--error-exitcode', '3']).status).toBe(0);
  });

  it('generates suppressions that suppress what they were generated for', () => {
    const path = faulty().write();
    const gen = cli(['check', path, '--gen-suppressions']).stdout;
    const blocks = gen.split('\n').filter((l) => !l.startsWith('==')).join('\n');
    expect(blocks).toContain('ioctlgrind:uninitialised');
    const supp = `${path}.supp`;
    writeFileSync(supp, blocks.replace('<insert_a_suppression_name_here>', 'regs-in-test'));
    const r = cli(['check', path, '--suppressions', supp]);
    expect(r.stdout).toContain('ERROR SUMMARY: 0 errors from 0 contexts (suppressed: 2 from 1)');
  });

  it('matches suppressions by rule, request, object and field globs', () => {
    const [s] = parseSuppressions('# comment\n{\n  mine\n  ioctlgrind:uninitialised\n  request:KVM_SET_*\n  object:vm*/vcpu*\n  field:r?x\n}\n', 'x.supp');
    const t = faulty();
    const { result } = check(t, [s]);
    expect(s.used).toBe(2);
    expect(result.contexts.filter((c) => c.first.rule === 'uninitialised')).toEqual([]);
  });

  it('refuses a malformed suppression file with the line', () => {
    expect(() => parseSuppressions('{\n  name\n  ioctlgrind:nosuchrule\n}\n', 'bad.supp')).toThrow('bad.supp:1: \'ioctlgrind:nosuchrule\' is not ioctlgrind:RULE');
    expect(() => parseSuppressions('{\n  name\n', 'bad.supp')).toThrow('bad.supp:1: suppression not closed');
    const r = cli(['check', faulty().write(), '--suppressions', '/nonexistent.supp']);
    expect(r.status).toBe(1);
    expect(r.stderr.trim()).toBe('ioctlgrind: /nonexistent.supp: cannot read: ENOENT');
  });

  it('checks every whole event of a truncated trace and says where it was cut', () => {
    const path = faulty().write();
    truncateSync(path, statSync(path).size - 5);
    const r = cli(['check', path]);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/warning: .*truncated at byte \d+/);
    expect(r.stdout).toContain('reads uninitialised bytes 8..15');
  });

  it('refuses a corrupt trace in one line naming the offset', () => {
    const path = faulty().write();
    const bytes = readFileSync(path);
    bytes[40] ^= 0xff;
    writeFileSync(path, bytes);
    const r = cli(['check', path]);
    expect(r.status).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/at byte \d+/);
  });
});
