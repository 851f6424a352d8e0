#!/usr/bin/env node
// Builds the kvmhost N-API addon (build/kvmhost.node) with the system C compiler against Node's own
// headers. Run by `npm install`; plain JavaScript so that it needs nothing compiled first. Where no
// compiler or headers are found it says so and leaves the emulated back-end as the only one.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const cc = process.env.CC ?? 'cc';
const prefix = process.config.variables.node_prefix ?? '/usr';
const includes = [join(prefix, 'include', 'node'), join(dirname(process.execPath), '..', 'include', 'node'), '/usr/include/node', '/usr/local/include/node'];
const include = includes.find((dir) => existsSync(join(dir, 'node_api.h')));
const out = join(root, 'build', 'kvmhost.node');

if (include === undefined) {
  console.log(`ioctlgrind: Node's headers (node_api.h) are not in ${includes.join(', ')}; the /dev/kvm back-end is not built`);
} else {
  mkdirSync(dirname(out), { recursive: true });
  try {
    execFileSync(cc, ['-O2', '-Wall', '-Wextra', '-fPIC', '-shared', '-fvisibility=hidden', '-DNODE_GYP_MODULE_NAME=kvmhost', `-I${include}`, '-o', out, join(root, 'vmx', 'host', 'addon.c')], { stdio: 'inherit' });
    console.log(`ioctlgrind: built ${out}`);
  } catch {
    console.log(`ioctlgrind: ${cc} could not build ${out}; the /dev/kvm back-end is not available`);
  }
}
