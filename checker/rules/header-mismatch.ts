// A request the driver's schema set does not give, matched instead in another header of the same
// family (QEMU's copy of the HAXM header, a proposal, a removed numbering): the monitor was built
// against a header that disagrees with the driver. Reported once per request, by what differs.

import { hex } from '../../schemas/ioc.js';
import { once, type CheckState, type Emit, type Rule } from '../rule.js';
import type { IoctlFacts } from '../facts.js';

export const headerMismatch: Rule = {
  ioctl(facts, state, emit) {
    const { schema, object, set } = facts;
    const driverSet = object?.set;
    if (!schema || !set || !driverSet) return;
    if (set === driverSet) {
      otherMeanings(facts, state, emit);
      return;
    }
    if (!once(state, `header:${set.id}:${schema.name}`)) return;
    const request = hex(facts.event.request >>> 0);
    const base = schema.name.replace(/__LEGACY$/, '');
    const driver = driverSet.ioctls.find((i) => i.name === base);
    const number = driver?.numbers[state.abi];
    if (!driver || number === undefined) {
      const also = state.registry.candidates(facts.event.request >>> 0).filter((c) => c.abi === state.abi && c.set !== set && c.set.family === set.family && c.ioctl.name !== schema.name);
      const alsoText = also.length ? ` (and ${[...new Set(also.map((c) => `${c.ioctl.name} in ${c.set.id}`))].join(', ')})` : '';
      emit({ rule: 'unknown-ioctl', severity: 'error', message: `${schema.name} (${request}) comes from ${set.id}${alsoText}; the driver's ${driverSet.id} has no such request` });
      return;
    }
    const theirs = schema.encoding;
    const ours = driver.encoding;
    const what = theirs.dir !== ours.dir ? `is ${theirs.dir} there and ${ours.dir} in the driver` : schema.sizes[state.abi] !== driver.sizes[state.abi] ? `has size ${schema.sizes[state.abi]} there and ${driver.sizes[state.abi]} in the driver` : 'is numbered otherwise';
    emit({
      rule: theirs.dir !== ours.dir ? 'direction' : 'struct-size',
      severity: 'error',
      message: `${schema.name} ${request} comes from ${set.id}: it ${what} (${driverSet.id} numbers it ${hex(number)})`,
    });
  },
};

/**
 * A number the driver's set gives one meaning and another header of the family (an older protocol,
 * a proposal) another, on the same kind of object: a monitor written for the other header means
 * something else by it (MSHV's 2020 RFC REQUEST_VERSION is mshv_vtl's CHECK_EXTENSION).
 */
function otherMeanings(facts: IoctlFacts, state: CheckState, emit: Emit): void {
  const { schema, object, set, event } = facts;
  if (!schema || !object || !set) return;
  const request = event.request >>> 0;
  const others = state.registry.candidates(request).filter((c) => c.abi === state.abi && c.set !== set && c.set.family === set.family && c.set.numbering === set.numbering && c.ioctl.on.includes(object.kind) && c.ioctl.name.replace(/__LEGACY$/, '') !== schema.name);
  if (others.length === 0 || !once(state, `meanings:${request}`)) return;
  const elsewhere = [...new Set(others.map((c) => `${c.ioctl.name} in ${c.set.id}`))].join(', ');
  emit({ rule: 'protocol', severity: 'note', interface: true, message: `${hex(request)} on ${object.path} is ${schema.name} in ${set.id} but ${elsewhere}: a monitor written for the other header means something else by it` });
}
