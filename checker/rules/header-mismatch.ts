// A request the driver's schema set does not give, matched instead in another header of the same
// family (QEMU's copy of the HAXM header, a proposal, a removed numbering): the monitor was built
// against a header that disagrees with the driver. Reported once per request, by what differs.

import { hex } from '../../schemas/ioc.js';
import { once, type Rule } from '../rule.js';

export const headerMismatch: Rule = {
  ioctl(facts, state, emit) {
    const { schema, object, set } = facts;
    const driverSet = object?.set;
    if (!schema || !set || !driverSet || set === driverSet || !once(state, `header:${set.id}:${schema.name}`)) return;
    const request = hex(facts.event.request >>> 0);
    const base = schema.name.replace(/__LEGACY$/, '');
    const driver = driverSet.ioctls.find((i) => i.name === base);
    const number = driver?.numbers[state.abi];
    if (!driver || number === undefined) {
      emit({ rule: 'unknown-ioctl', severity: 'error', message: `${schema.name} (${request}) comes from ${set.id}; the driver's ${driverSet.id} has no such request` });
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
