// struct-size: the size a number encodes against what the driver really reads (once per request),
// and, in exact traces, a driver that touched bytes past the region the schema declares.

import { typeName } from '../../schemas/describe.js';
import { typeSize } from '../../schemas/codec.js';
import { argVariant } from '../../schemas/regions.js';
import { once, bitRuns, rangeText, type Rule } from '../rule.js';

export const structSize: Rule = {
  ioctl(facts, state, emit) {
    const { schema, set } = facts;
    if (!schema || !set || schema.arg.kind !== 'pointer') return;
    const encoded = schema.sizes[state.abi];
    const real = typeSize(set, state.abi, schema.arg.type);
    if (encoded !== undefined && real > 0 && encoded !== real && once(state, `struct-size:${schema.name}`)) {
      emit({ rule: 'struct-size', severity: 'note', interface: true, message: `${schema.name} encodes size ${encoded}, but the driver reads a ${typeName(schema.arg.type)} of ${real} bytes` });
    }
    const expected = schema.buffers?.[state.abi];
    const passed = facts.event.buffers;
    if (expected && passed) {
      // DeviceIoControl carries the sizes apart from the code: each must fit the struct the driver uses.
      for (const side of ['in', 'out'] as const) {
        if (expected[side] !== 0 && passed[side] < expected[side]) {
          emit({ rule: 'struct-size', severity: 'error', message: `${schema.name} on ${facts.objectPath} passes an ${side}put buffer of ${passed[side]} bytes; the driver ${side === 'in' ? 'reads' : 'writes'} ${expected[side]}${schema.arg.kind === 'pointer' ? ` (${typeName(schema.arg.type)})` : ''}` });
        }
      }
    }
    const variant = argVariant(set, state.abi, schema, facts.region('arg')?.before);
    if (encoded !== undefined && variant && variant.size > encoded && once(state, `struct-size:${schema.name}:${variant.name}`)) {
      emit({ rule: 'struct-size', severity: 'note', interface: true, message: `${variant.name}: the driver reads ${variant.size} bytes${variant.type ? ` (${typeName(variant.type)})` : ''} through a number that encodes ${encoded}` });
    }
    if (!state.header.exact) return;
    for (const planned of facts.plan) {
      const region = facts.region(planned.role);
      if (!region || planned.length === 0 || region.length <= planned.length) continue;
      const past = (i: number) => i >= planned.length;
      for (const [bitmap, verb] of [[region.read, 'read'], [region.written, 'wrote']] as const) {
        if (!bitmap) continue;
        for (const run of bitRuns(bitmap, region.length, past)) {
          emit({ rule: 'struct-size', severity: 'error', field: planned.role, region: planned.role, bytes: run, message: `the driver ${verb} ${rangeText(run)} of ${planned.role}, past the ${planned.length} bytes ${schema.name} declares` });
        }
      }
    }
  },
};
