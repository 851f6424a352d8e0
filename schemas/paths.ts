// Finds the package's committed data from compiled (dist/) and source (vitest) code alike.

import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

let root: string | undefined;

/** The folder holding package.json. */
export function packageRoot(): string {
  if (root) return root;
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error('ioctlgrind: cannot find the package root');
    dir = up;
  }
  root = dir;
  return dir;
}

/** A path under one of the package's folders (`schemas`, `test`, ...). */
export function dataPath(relative: string, folder = 'schemas'): string {
  return join(packageRoot(), folder, relative);
}

let version: string | undefined;

/** `ioctlgrind X.Y.Z`, as package.json says: traces and reports carry it. */
export function toolVersion(): string {
  version ??= (JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version: string }).version;
  return `ioctlgrind ${version}`;
}
