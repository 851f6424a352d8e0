// direction: the _IOC bits against the real data flow (once per request), bytes the driver changed
// in input-only memory (native traces), and every byte read or written against its declaration
// (exact traces).

import type { Direction, IoctlSchema, SchemaSet, Abi } from '../../schemas/model.js';
import { fieldsCovering } from '../../schemas/codec.js';
import { argByteDirections, declaresIn, declaresOut, type PlannedRegion } from '../../schemas/regions.js';
import { typeName } from '../../schemas/describe.js';
import { bitRuns, changedRuns, once, rangeText, type Emit, type Rule } from '../rule.js';
import type { IoctlFacts } from '../facts.js';

/** The declared direction of each byte of a planned region. */
function byteDirs(set: SchemaSet, abi: Abi, schema: IoctlSchema, planned: PlannedRegion, length: number): readonly Direction[] {
  return planned.role === 'arg' ? argByteDirections(set, abi, schema, length) : new Array<Direction>(length).fill(planned.dir);
}

function fieldText(facts: IoctlFacts, planned: PlannedRegion, run: [number, number]): string {
  if (!facts.set || !planned.type) return planned.role;
  const names = fieldsCovering(facts.set, facts.abi, planned.type, run[0], run[1]);
  const shown = names.slice(0, 4).join(', ') + (names.length > 4 ? `, and ${names.length - 4} more` : '');
  return planned.role === 'arg' ? shown : `${planned.role} -> ${shown}`;
}

function interfaceFinding(facts: IoctlFacts, emit: Emit): void {
  const { schema, set } = facts;
  if (!schema || !set || schema.encoding.noneWithSize || schema.encoding.numbering === 'windows') return;
  const arg = schema.arg;
  const claimsIn = schema.encoding.dir === '_IOW' || schema.encoding.dir === '_IOWR';
  const claimsOut = schema.encoding.dir === '_IOR' || schema.encoding.dir === '_IOWR';
  if (arg.kind !== 'pointer') return;
  if (schema.encoding.dir === '_IO') {
    emit({ rule: 'direction', severity: 'note', interface: true, message: `${schema.name} is _IO, yet the driver ${arg.dir === 'out' ? 'writes' : 'reads'} a ${typeName(arg.type)} through the argument` });
    return;
  }
  const argDirs = argByteDirections(set, facts.abi, schema, facts.plan[0]?.length ?? 0);
  const writes: string[] = [];
  const reads: string[] = [];
  if (argDirs.some(declaresOut)) writes.push('the argument');
  if (argDirs.some(declaresIn)) reads.push('the argument');
  for (const p of facts.plan.slice(1)) {
    const where = p.role === '*' ? 'through the pointer the argument holds' : `through ${p.role}`;
    if (declaresOut(p.dir)) writes.push(where);
    if (declaresIn(p.dir)) reads.push(where);
  }
  const bits = schema.encoding.dir;
  if (!claimsOut && writes.length > 0) {
    emit({ rule: 'direction', severity: 'note', interface: true, field: facts.plan.find((p) => p.role !== 'arg' && declaresOut(p.dir))?.role, message: `${schema.name} is ${bits}, yet the driver writes ${writes.join(' and ')}` });
  } else if (!claimsIn && reads.length > 0) {
    emit({ rule: 'direction', severity: 'note', interface: true, message: `${schema.name} is ${bits}, yet the driver only reads ${reads.join(' and ')}` });
  } else if (claimsIn && claimsOut && reads.length === 0) {
    emit({ rule: 'direction', severity: 'note', interface: true, message: `${schema.name} is _IOWR, yet the driver only writes ${writes.join(' and ')}` });
  } else if (claimsIn && claimsOut && writes.length === 0) {
    emit({ rule: 'direction', severity: 'note', interface: true, message: `${schema.name} is _IOWR, yet the driver only reads ${reads.join(' and ')}` });
  }
}

export const direction: Rule = {
  ioctl(facts, state, emit) {
    const { schema, set } = facts;
    if (!schema || !set) return;
    if (once(state, `direction:${schema.name}`)) interfaceFinding(facts, emit);
    for (const planned of facts.plan) {
      const region = facts.region(planned.role);
      if (!region) continue;
      const dirs = byteDirs(set, state.abi, schema, planned, region.length);
      const report = (run: [number, number], what: string) =>
        emit({ rule: 'direction', severity: 'error', field: fieldText(facts, planned, run), region: planned.role, bytes: run, message: `${schema.name} on ${facts.objectPath}: the driver ${what} ${rangeText(run)} of ${planned.role} (${fieldText(facts, planned, run)})` });
      // Padding and reserved fields (`none`) are copied whole by the kernel either way: only
      // declared input written, or declared output read, is a finding.
      const n = Math.min(region.length, dirs.length);
      if (state.header.exact) {
        if (region.read) for (const run of bitRuns(region.read, n, (i) => dirs[i] === 'out')) report(run, 'read output-only');
        if (region.written) for (const run of bitRuns(region.written, n, (i) => dirs[i] === 'in')) report(run, 'wrote input-only');
      } else if (region.before && region.after && facts.event.ret >= 0) {
        for (const run of changedRuns(region.before, region.after, (i) => i < n && dirs[i] === 'in')) report(run, 'changed input-only');
      }
    }
  },
};
