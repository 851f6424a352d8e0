// `schemas import`: a set from the user's own driver header, numbered and laid out by the compiler,
// that the registry then loads.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { importHeaders, ImportError } from '../schemas/generate/import.js';
import { loadSchemaPaths, SchemaRegistry, loadSchemaSets } from '../schemas/registry.js';
import { cli } from './support/cli.js';
import { hasGcc, hasGcc32 } from './support/toolchain.js';

const HEADER = `/* a driver of the test's own */
#include <linux/ioctl.h>
#include <linux/types.h>

#define TOY_MAGIC 0xF7
#define TOY_IOW(nr, type) _IOW(TOY_MAGIC, nr, type)
#define TOY_MAX_QUEUES 8

struct toy_config {
\t__u32 flags;
\t__u64 base;
\tvoid *buffer;
};

struct toy_stats {
\t__u64 counters[4];
};

#define TOY_RESET _IO(TOY_MAGIC, 0x00)
#define TOY_SET_CONFIG TOY_IOW(0x01, struct toy_config)
#define TOY_GET_STATS _IOR(TOY_MAGIC, 0x02, struct toy_stats)
#define TOY_EXCHANGE _IOWR(TOY_MAGIC, 0x03, int)
#define TOY_RAW _IOC(_IOC_NONE, TOY_MAGIC, 0x04, sizeof(struct toy_stats))
`;

function writeHeader(text = HEADER, name = 'toy.h'): { dir: string; path: string } {
  const dir = mkdtempSync(join(tmpdir(), 'ioctlgrind-import-'));
  const path = join(dir, name);
  writeFileSync(path, text);
  return { dir, path };
}

describe.skipIf(!(hasGcc && hasGcc32))('importing a driver header', () => {
  const { path } = writeHeader();
  let imported: ReturnType<typeof importHeaders> | undefined;
  const result = () => (imported ??= importHeaders({ headers: [path], abis: ['lp64', 'ilp32'], family: 'toy' }));
  const io = (name: string) => result().set.ioctls.find((i) => i.name === name)!;

  it('finds every request macro, through wrappers', () => {
    const { set } = result();
    expect(set.ioctls.map((i) => i.name)).toEqual(['TOY_RESET', 'TOY_SET_CONFIG', 'TOY_GET_STATS', 'TOY_EXCHANGE', 'TOY_RAW']);
  });

  it('numbers them and lays out their structs with the compiler, per ABI', () => {
    const { set } = result();
    expect(io('TOY_SET_CONFIG').numbers).toEqual({ lp64: 0x4018f701, ilp32: 0x4010f701 });
    expect(io('TOY_GET_STATS').numbers).toEqual({ lp64: 0x8020f702, ilp32: 0x8020f702 });
    expect(io('TOY_RESET').numbers.lp64).toBe(0xf700);
    expect(set.types.lp64!.toy_config.size).toBe(24);
    expect(set.types.ilp32!.toy_config.size).toBe(16);
    expect(set.types.ilp32!.toy_config.fields.map((f) => [f.name, f.offset])).toEqual([['flags', 0], ['base', 4], ['buffer', 12]]);
    expect(set.constants).toEqual({ TOY_MAGIC: 0xf7, TOY_MAX_QUEUES: 8 });
  });

  it('takes directions from the _IOC bits, and says so', () => {
    const { set, warnings } = result();
    expect(io('TOY_SET_CONFIG').arg).toEqual({ kind: 'pointer', type: { kind: 'struct', name: 'toy_config' }, dir: 'in' });
    expect(io('TOY_GET_STATS').arg).toMatchObject({ dir: 'out' });
    expect(io('TOY_EXCHANGE').arg).toEqual({ kind: 'pointer', type: { kind: 'scalar', scalar: 's32' }, dir: 'inout' });
    expect(io('TOY_RESET').arg).toEqual({ kind: 'none' });
    expect(io('TOY_RAW').encoding.noneWithSize).toBe(true);
    expect(io('TOY_SET_CONFIG').notes!.join(' ')).toMatch(/direction from the _IOC bits/);
    expect(warnings.join(' ')).toMatch(/_IOC bits/);
    expect(set.origin).toBe('import');
  });

  it('writes a set the registry loads, from a folder or through IOCTLGRIND_SCHEMAS', () => {
    const out = mkdtempSync(join(tmpdir(), 'ioctlgrind-sets-'));
    const r = cli(['schemas', 'import', path, '--family', 'toy', '-o', join(out, 'toy.json')]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/IOCTLGRIND_SCHEMAS/);
    expect(loadSchemaSets(out)[0].ioctls).toHaveLength(5);
    const registry = new SchemaRegistry([...loadSchemaSets(), ...loadSchemaPaths([join(out, 'toy.json')])]);
    expect(registry.lookup(0x4018f701, 'device', 'lp64', 'toy')!.name).toBe('TOY_SET_CONFIG');
    expect(registry.lookup(0xc0080020, 'system', 'lp64', 'haxm')!.name).toBe('HAX_IOCTL_VERSION');

    const decoded = cli(['decode', '0x4010f701'], { env: { ...process.env, IOCTLGRIND_SCHEMAS: out } });
    expect(decoded.stdout).toMatch(/TOY_SET_CONFIG on device/);
    expect(decoded.stdout).toMatch(/struct toy_config \(in, 16 bytes\)/);
    expect(decoded.stdout).toMatch(/abi\s+i386/);
    const listed = cli(['schemas', 'list', '--schemas', join(out, 'toy.json')]);
    expect(listed.stdout).toMatch(/toy: imported from toy\.h \(5 ioctls/);
    expect(JSON.parse(readFileSync(join(out, 'toy.json'), 'utf8')).id).toBe('toy');
  });

  it('refuses a set whose id is taken', () => {
    const { set } = result();
    expect(() => new SchemaRegistry([set, set])).toThrow(/two schema sets have the id toy/);
  });
});

describe.skipIf(!hasGcc)('importing a header that does not compile', () => {
  it('names the header and gcc\'s first error in one line', () => {
    const { path } = writeHeader('#include <linux/types.h>\nstruct broken { __u32 a; no_such_t b; };\n#define BROKEN _IOW(1, 2, struct broken)\n', 'broken.h');
    expect(() => importHeaders({ headers: [path], abis: ['lp64'], family: 'x' })).toThrow(ImportError);
    const r = cli(['schemas', 'import', path, '--abi', 'lp64']);
    expect(r.status).not.toBe(0);
    const lines = r.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/broken\.h does not compile \(lp64\): .*broken\.h:2:\d+: error: unknown type name .no_such_t./);
  });

  it('says when a header defines no request', () => {
    const { path } = writeHeader('#define NOTHING 1\n', 'none.h');
    const r = cli(['schemas', 'import', path, '--abi', 'lp64']);
    expect(r.stderr).toMatch(/no _IO\/_IOR\/_IOW\/_IOWR\/_IOC request macro in none\.h/);
  });
});
