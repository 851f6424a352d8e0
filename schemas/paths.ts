// Finds the package's committed data from compiled (dist/) and source (vitest) code alike.

import { existsSync } from 'node:fs';
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
