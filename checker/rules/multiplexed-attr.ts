// multiplexed-attr: the payload of a multiplexed ioctl is chosen by a key (device type, group, attr;
// the size bits of a ONE_REG id). Unknown keys, unknowable device types and keys whose meaning
// depends on a device type the trace cannot tell are reported with what is known.

import { decodeType } from '../../schemas/codec.js';
import { hex } from '../../schemas/ioc.js';
import { resolveSubtable, subtableKey, type Fields } from '../../schemas/regions.js';
import type { Rule } from '../rule.js';

function keyText(key: Record<string, number | string>): string {
  return Object.entries(key).filter(([k]) => k !== 'device').map(([k, v]) => `${k.split(':')[0]} ${typeof v === 'number' ? hex(v) : v}`).join(' ');
}

export const multiplexedAttr: Rule = {
  ioctl(facts, state, emit) {
    const { schema, set, object } = facts;
    const bytes = facts.region('arg')?.before;
    if (!schema?.multiplex || !set || !bytes || schema.arg.kind !== 'pointer') return;
    const table = set.subtables[schema.multiplex];
    if (!table) return;
    const fields = decodeType(set, state.abi, schema.arg.type, bytes) as Fields;
    const facts_ = { kind: object?.kind, deviceType: object?.deviceType };
    const key = subtableKey(table, fields, facts_);
    // A probe (KVM_HAS_DEVICE_ATTR) asks whether the key exists: an unknown key is its answer.
    const probing = schema.arg.pointers === undefined;
    if (table.keyFields.includes('device') && object && (object.kind === 'unknown' || object.createdSeq === null)) {
      const alternatives = table.entries.filter((e) => table.keyFields.every((k) => k === 'device' || e.key[k] === '*' || e.key[k] === key[k]));
      const sizes = [...new Set(alternatives.map((e) => `${e.size} bytes on ${e.key.device}`))];
      emit({
        rule: 'multiplexed-attr',
        severity: 'warning',
        field: 'addr',
        message: `${schema.name} ${keyText(key)} on ${facts.objectPath}: the payload cannot be sized: this fd's object was never created in the trace (recording started late, or the fd came from another process)${sizes.length > 1 ? `; the key means ${sizes.join(', ')}` : sizes.length === 1 ? `; only ${sizes[0]} would fit` : ''}`,
      });
      return;
    }
    if (resolveSubtable(table, fields, facts_) || probing) return;
    if (schema.multiplex === 'enable-cap') return; // caps without argument meaning need no entry
    const device = key.device !== undefined ? ` for ${object?.kind === 'device' ? `device type ${key.device}` : `a ${key.device}`}` : '';
    const elsewhere = table.entries.filter((e) => table.keyFields.every((k) => k === 'device' || e.key[k] === '*' || e.key[k] === key[k])).map((e) => `${e.key.device} (${e.size} bytes)`);
    emit({
      rule: 'multiplexed-attr',
      severity: 'error',
      field: schema.arg.pointers?.[0]?.field,
      message: `${schema.name} ${keyText(key)} is not known${device}${elsewhere.length ? `; it means something on ${[...new Set(elsewhere)].join(', ')}` : ''}`,
    });
  },
};
