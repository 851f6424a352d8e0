// uninitialised: input bytes that were never defined when the driver read them, from memcheck's
// definedness (record --memcheck) or the emulator's exact traces, named by field.

import type { Direction } from '../../schemas/model.js';
import { fieldsCovering } from '../../schemas/codec.js';
import { argByteDirections, declaresIn } from '../../schemas/regions.js';
import { bitRuns, rangeText, type Rule } from '../rule.js';

export const uninitialised: Rule = {
  ioctl(facts, state, emit) {
    const { schema, set } = facts;
    for (const region of facts.event.regions) {
      if (!region.undef || region.role.startsWith('run')) continue;
      const planned = facts.plan.find((p) => p.role === region.role);
      const dirs: readonly Direction[] | undefined = schema && set && planned
        ? (region.role === 'arg' ? argByteDirections(set, state.abi, schema, region.length) : new Array<Direction>(region.length).fill(planned.dir))
        : undefined;
      // Output-only bytes and padding are the driver's to fill: only declared input counts. Where the
      // schema is unknown, every byte the call could read does.
      const isInput = (i: number) => (dirs ? i < dirs.length && declaresIn(dirs[i]) : region.dir !== 'out');
      for (const run of bitRuns(region.undef, region.length, isInput)) {
        // Named with the padding that follows it, so that a whole element reads as the element.
        let b = run[1];
        while (dirs && b < dirs.length && dirs[b] === 'none') b++;
        const names = set && planned?.type ? fieldsCovering(set, state.abi, planned.type, run[0], b) : [];
        const field = names.length > 0 ? names.slice(0, 6).join(', ') + (names.length > 6 ? `, and ${names.length - 6} more` : '') : undefined;
        const where = region.role === 'arg' ? 'the argument' : `the buffer behind ${region.role}`;
        emit({
          rule: 'uninitialised',
          severity: 'error',
          field: field ? (region.role === 'arg' ? field : `${region.role} -> ${field}`) : region.role,
          region: region.role,
          bytes: run,
          ...(region.allocSite ? { allocSite: region.allocSite } : {}),
          message: `${facts.name} on ${facts.objectPath} reads uninitialised ${rangeText(run)} of ${where}${field ? ` (${field})` : ''}`,
        });
      }
    }
  },
};
