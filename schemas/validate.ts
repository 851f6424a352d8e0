// Checks a schema set read from disk before anything trusts it: a malformed set is reported with the
// file and the path of the offending field, in one line.

import { ABIS, type SchemaSet } from './model.js';

export class SchemaFormatError extends Error {}

type Json = unknown;

function fail(file: string, path: string, what: string): never {
  throw new SchemaFormatError(`${file}: ${path}: ${what}`);
}

function obj(v: Json, file: string, path: string): Record<string, Json> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) fail(file, path, 'expected an object');
  return v as Record<string, Json>;
}

function arr(v: Json, file: string, path: string): Json[] {
  if (!Array.isArray(v)) fail(file, path, 'expected an array');
  return v;
}

function str(v: Json, file: string, path: string): string {
  if (typeof v !== 'string' || v === '') fail(file, path, 'expected a non-empty string');
  return v;
}

function int(v: Json, file: string, path: string, min = 0, max = 0xffffffff): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) fail(file, path, `expected an integer in ${min}..${max}`);
  return v;
}

const DIRECTIONS = ['in', 'out', 'inout', 'none'];

function typeRef(v: Json, file: string, path: string): void {
  const t = obj(v, file, path);
  switch (t.kind) {
    case 'scalar': str(t.scalar, file, `${path}.scalar`); return;
    case 'struct': str(t.name, file, `${path}.name`); return;
    case 'array': typeRef(t.element, file, `${path}.element`); int(t.count, file, `${path}.count`); return;
    case 'flex': typeRef(t.element, file, `${path}.element`); return;
    case 'bytes': return;
    default: fail(file, `${path}.kind`, `unknown type kind ${JSON.stringify(t.kind)}`);
  }
}

export function validateSet(v: Json, file: string): SchemaSet {
  const set = obj(v, file, '(top)');
  str(set.id, file, 'id');
  str(set.family, file, 'family');
  const abis = arr(set.abis, file, 'abis');
  abis.forEach((a, i) => { if (!ABIS.includes(a as never)) fail(file, `abis[${i}]`, `unknown ABI ${JSON.stringify(a)}`); });
  if (!['linux', 'bsd', 'windows'].includes(set.numbering as string)) fail(file, 'numbering', 'expected linux, bsd or windows');
  arr(set.objects, file, 'objects').forEach((o, i) => str(obj(o, file, `objects[${i}]`).name, file, `objects[${i}].name`));
  arr(set.ioctls, file, 'ioctls').forEach((io, i) => {
    const p = `ioctls[${i}]`;
    const ioctl = obj(io, file, p);
    const name = str(ioctl.name, file, `${p}.name`);
    const q = `ioctls[${i}] (${name})`;
    arr(ioctl.on, file, `${q}.on`).forEach((o, j) => str(o, file, `${q}.on[${j}]`));
    const numbers = obj(ioctl.numbers, file, `${q}.numbers`);
    for (const [abi, n] of Object.entries(numbers)) int(n, file, `${q}.numbers.${abi}`);
    const sizes = obj(ioctl.sizes, file, `${q}.sizes`);
    for (const [abi, n] of Object.entries(sizes)) int(n, file, `${q}.sizes.${abi}`, 0, 1 << 20);
    const arg = obj(ioctl.arg, file, `${q}.arg`);
    if (arg.kind === 'pointer') {
      typeRef(arg.type, file, `${q}.arg.type`);
      if (!DIRECTIONS.includes(arg.dir as string)) fail(file, `${q}.arg.dir`, 'expected in, out, inout or none');
      if (arg.pointers !== undefined) arr(arg.pointers, file, `${q}.arg.pointers`).forEach((pr, j) => {
        const r = obj(pr, file, `${q}.arg.pointers[${j}]`);
        str(r.field, file, `${q}.arg.pointers[${j}].field`);
        obj(r.size, file, `${q}.arg.pointers[${j}].size`);
      });
    } else if (!['none', 'value'].includes(arg.kind as string)) {
      fail(file, `${q}.arg.kind`, `unknown argument kind ${JSON.stringify(arg.kind)}`);
    }
    obj(ioctl.returns, file, `${q}.returns`);
  });
  const types = obj(set.types, file, 'types');
  for (const [abi, layouts] of Object.entries(types)) {
    for (const [name, l] of Object.entries(obj(layouts, file, `types.${abi}`))) {
      const layout = obj(l, file, `types.${abi}.${name}`);
      int(layout.size, file, `types.${abi}.${name}.size`, 0, 1 << 24);
      arr(layout.fields, file, `types.${abi}.${name}.fields`).forEach((f, j) => {
        const field = obj(f, file, `types.${abi}.${name}.fields[${j}]`);
        int(field.offset, file, `types.${abi}.${name}.fields[${j}].offset`, 0, 1 << 24);
        int(field.size, file, `types.${abi}.${name}.fields[${j}].size`, 0, 1 << 24);
        typeRef(field.type, file, `types.${abi}.${name}.fields[${j}].type`);
      });
    }
  }
  obj(set.subtables, file, 'subtables');
  obj(set.constants, file, 'constants');
  return set as unknown as SchemaSet;
}
