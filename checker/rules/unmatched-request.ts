// A request no schema gives on this object: valid on another kind of object (protocol), a known
// ioctl with another size (struct-size), or unknown (unknown-ioctl).

import { argSizeSentence } from '../../schemas/describe.js';
import { hex, iocDecode } from '../../schemas/ioc.js';
import type { Rule } from '../rule.js';

export const unmatchedRequest: Rule = {
  ioctl(facts, state, emit) {
    if (facts.schema) return;
    const { event, object } = facts;
    const request = event.request >>> 0;
    const family = object?.family ?? undefined;
    const here = state.registry.candidates(request).filter((c) => c.abi === state.abi && (!family || c.set.family === family));
    if (here.length > 0 && object && object.kind !== 'unknown') {
      const kinds = [...new Set(here.flatMap((c) => c.ioctl.on))];
      emit({ rule: 'protocol', severity: 'error', name: here[0].ioctl.name, message: `${here[0].ioctl.name} on ${object.path} (a ${object.kind}): it is valid only on ${kinds.join(', ')}` });
      return;
    }
    const parts = iocDecode(request);
    const families = state.registry.familiesOfType(parts.type);
    // ioctls on files, ttys and sockets are not ours to judge unless their type byte is a hypervisor's.
    if (!family && families.length === 0) return;
    const near = state.registry.nearMatches(request).filter((c) => c.abi === state.abi);
    if (near.length > 0) {
      const n = near[0];
      const how = n.ioctl.encoding.dir !== parts.dir ? `direction ${parts.dir} (it is ${n.ioctl.encoding.dir})` : `size ${parts.size}`;
      emit({ rule: 'struct-size', severity: 'error', name: n.ioctl.name, message: `${n.ioctl.name} with ${how}: ${argSizeSentence(n.set, n.ioctl)}` });
      return;
    }
    emit({
      rule: 'unknown-ioctl',
      severity: 'warning',
      message: `unknown ioctl ${hex(request)} on ${facts.objectPath}: ${parts.dir} type ${hex(parts.type)} nr ${hex(parts.nr)} size ${parts.size}${families.length ? ` (type ${hex(parts.type)} belongs to ${families.join(', ')})` : ''}`,
    });
  },
};
