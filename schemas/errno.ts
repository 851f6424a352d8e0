// errno values by the names every report uses (ENOTTY, not 25).

import { constants } from 'node:os';

const NAMES = new Map(Object.entries(constants.errno).map(([name, n]) => [n, name]));

export function errnoName(n: number): string {
  return NAMES.get(n) ?? `errno ${n}`;
}
