// abi: a 32-bit monitor passing a struct whose layout differs between i386 and x86_64; the 64-bit
// kernel reads the x86_64 layout unless it has a compat path.

import { layoutOf } from '../../schemas/registry.js';
import { typeName } from '../../schemas/describe.js';
import { hex } from '../../schemas/ioc.js';
import { once, type Rule } from '../rule.js';

export const abi: Rule = {
  ioctl(facts, state, emit) {
    const { schema, set } = facts;
    if (state.abi !== 'ilp32' || !schema || !set || schema.arg.kind !== 'pointer' || schema.arg.type.kind !== 'struct') return;
    const name = schema.arg.type.name;
    const narrow = layoutOf(set, 'ilp32', name);
    const wide = layoutOf(set, 'lp64', name);
    if (!narrow || !wide || !once(state, `abi:${schema.name}`)) return;
    const moved = narrow.fields.filter((f) => {
      const w = wide.fields.find((x) => x.name === f.name);
      return !w || w.offset !== f.offset || w.size !== f.size;
    });
    if (narrow.size === wide.size && moved.length === 0) return;
    const numbers = schema.numbers.ilp32 !== schema.numbers.lp64 && schema.numbers.lp64 !== undefined
      ? `; its number is ${hex(schema.numbers.ilp32 ?? 0)} here and ${hex(schema.numbers.lp64)} for x86_64`
      : '';
    emit({
      rule: 'abi',
      severity: 'error',
      interface: true,
      field: moved.map((f) => f.name).slice(0, 6).join(', ') || undefined,
      message: `${schema.name}: ${typeName(schema.arg.type)} is ${narrow.size} bytes on i386 and ${wide.size} on x86_64${moved.length ? ` (${moved.slice(0, 4).map((f) => `${f.name} at ${f.offset}, x86_64 ${wide.fields.find((x) => x.name === f.name)?.offset ?? 'none'}`).join('; ')})` : ''}${numbers}: a 64-bit kernel reads the x86_64 layout unless it has a compat path for this request`,
    });
  },
};
