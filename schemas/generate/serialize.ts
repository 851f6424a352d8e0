import type { SchemaSet } from '../model.js';

/** Stable JSON: the committed file changes only when the headers or the compiler say so. */
export function serializeSet(set: SchemaSet): string {
  return JSON.stringify(set, null, 1) + '\n';
}
