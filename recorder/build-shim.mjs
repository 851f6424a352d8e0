#!/usr/bin/env node
// Builds the LD_PRELOAD shim with the system C compiler: build/x86_64/libioctlgrind.so, and
// build/i386/libioctlgrind.so where `cc -m32` can link (skipped with a message otherwise).
// Then it finds what ld.so's `$LIB` expands to for each class (lib/x86_64-linux-gnu on Debian,
// lib64 on Fedora, ...) and links build/<that>/libioctlgrind.so to the shim of that class, so that
// one LD_PRELOAD=build/$LIB/libioctlgrind.so serves a process tree that mixes 32- and 64-bit
// programs. build/shim.json records the expansions found. Last it builds `record`'s launcher,
// build/ioctlgrind-record (recorder/launcher/launch.c), told which LD_PRELOAD path to give each class.
// Run by `npm install`; plain JavaScript so that it needs nothing compiled first.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const build = join(root, 'build');
const shimDir = join(root, 'recorder', 'shim');
const cc = process.env.CC ?? 'cc';
const sources = readdirSync(shimDir).filter((f) => f.endsWith('.c')).map((f) => join(shimDir, f));
const flags = ['-O2', '-g', '-Wall', '-Wextra', '-Wno-psabi', '-fPIC', '-shared', '-fvisibility=hidden'];
/** Where glibc ports put `$LIB`; the probe says which one this system's ld.so uses. */
const CANDIDATES = ['lib', 'lib64', 'lib32', 'libx32', 'lib/x86_64-linux-gnu', 'lib/i386-linux-gnu', 'usr/lib', 'usr/lib64', 'usr/lib32'];
const PROBE = `#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
__attribute__((constructor)) static void probe(void) {
  Dl_info info;
  if (dladdr((void *)probe, &info)) printf("%s\\n", info.dli_fname);
}
`;

function compile(args) {
  try {
    execFileSync(cc, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    return true;
  } catch {
    return false;
  }
}

/** The `$LIB` expansion for programs built with `arch`, or undefined if the probe cannot tell. */
function libDir(arch, work) {
  const probe = join(work, `probe${arch}.so`);
  const exe = join(work, `main${arch}`);
  writeFileSync(join(work, 'probe.c'), PROBE);
  if (!compile([arch, '-fPIC', '-shared', '-o', probe, join(work, 'probe.c'), '-ldl']) || !compile([arch, '-o', exe, join(work, 'link.c')])) return undefined;
  const tree = join(work, `tree${arch}`);
  for (const c of CANDIDATES) {
    mkdirSync(join(tree, c), { recursive: true });
    symlinkSync(probe, join(tree, c, 'probe.so'));
  }
  const out = execFileSync(exe, [], { env: { ...process.env, LD_PRELOAD: `${tree}/$LIB/probe.so` }, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  return CANDIDATES.find((c) => out.trim() === join(tree, c, 'probe.so'));
}

const work = mkdtempSync(join(tmpdir(), 'ioctlgrind-cc-'));
const libs = {};
try {
  for (const [name, arch] of [['x86_64', '-m64'], ['i386', '-m32']]) {
    writeFileSync(join(work, 'link.c'), 'int main(void) { return 0; }\n');
    if (!compile([arch, '-o', join(work, `link${arch}`), join(work, 'link.c')])) {
      console.log(`ioctlgrind: ${cc} ${arch} cannot link here; the ${name} shim is not built`);
      continue;
    }
    const out = join(build, name, 'libioctlgrind.so');
    mkdirSync(dirname(out), { recursive: true });
    execFileSync(cc, [arch, ...flags, '-o', out, ...sources, '-ldl', '-lpthread'], { stdio: 'inherit' });
    console.log(`ioctlgrind: built ${out}`);
    const lib = libDir(arch, work);
    if (!lib) continue;
    const link = join(build, lib, 'libioctlgrind.so');
    mkdirSync(dirname(link), { recursive: true });
    rmSync(link, { force: true });
    symlinkSync(relative(dirname(link), out), link);
    libs[name] = lib;
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}
writeFileSync(join(build, 'shim.json'), `${JSON.stringify({ lib: libs }, null, 2)}\n`);

// The same choice recorder/spawn.ts's preloadPath makes, relative to the package root.
const preload = (name) => (libs[name] ? 'build/$LIB/libioctlgrind.so' : `build/${name}/libioctlgrind.so`);
const launcher = join(build, 'ioctlgrind-record');
const defines = [`-DPRELOAD_LP64="${preload('x86_64')}"`, `-DPRELOAD_ILP32="${preload('i386')}"`];
if (compile(['-O2', '-Wall', '-Wextra', ...defines, '-o', launcher, join(root, 'recorder', 'launcher', 'launch.c')])) console.log(`ioctlgrind: built ${launcher}`);
else console.log(`ioctlgrind: ${cc} could not build ${launcher}; record starts its target from Node`);
