// The MSHV schema sets against the facts, and regenerated from schemas/mshv/*.h as committed.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { collisions } from '../schemas/diff.js';
import { SchemaRegistry } from '../schemas/registry.js';
import { generateFamilySet } from '../schemas/generate/family.js';
import { MSHV_SETS } from '../schemas/generate/mshv.js';
import { serializeSet } from '../schemas/generate/serialize.js';
import { dataPath } from '../schemas/paths.js';
import { hasGcc, hasGcc32 } from './support/toolchain.js';

const registry = SchemaRegistry.default();

// From abi-facts.md's table.
const ROOT: Record<string, [number, string[]]> = {
  MSHV_CREATE_PARTITION: [0x4010b800, ['system']],
  MSHV_INITIALIZE_PARTITION: [0x0000b800, ['partition']],
  MSHV_CREATE_VP: [0x4004b801, ['partition']],
  MSHV_SET_GUEST_MEMORY: [0x4020b802, ['partition']],
  MSHV_IRQFD: [0x4010b803, ['partition']],
  MSHV_IOEVENTFD: [0x4020b804, ['partition']],
  MSHV_SET_MSI_ROUTING: [0x4008b805, ['partition']],
  MSHV_GET_GPAP_ACCESS_BITMAP: [0xc020b806, ['partition']],
  MSHV_ROOT_HVCALL: [0xc020b807, ['partition', 'vp']],
  MSHV_RUN_VP: [0x8100b800, ['vp']],
  MSHV_GET_VP_STATE: [0xc010b801, ['vp']],
  MSHV_SET_VP_STATE: [0xc010b802, ['vp']],
};

describe('mshv_root', () => {
  const set = registry.set('mshv-root');
  for (const [name, [n, on]] of Object.entries(ROOT)) {
    it(`${name} is ${n.toString(16)} on ${on.join(', ')}`, () => {
      const io = set.ioctls.find((i) => i.name === name)!;
      expect(io.numbers.lp64).toBe(n);
      expect(io.on).toEqual(on);
    });
  }

  it('has every request the facts list and no other', () => {
    expect(set.ioctls.map((i) => i.name).sort()).toEqual(Object.keys(ROOT).sort());
  });

  it('lays out the structs with the sizes of the facts', () => {
    const t = set.types.lp64!;
    expect(t.mshv_create_partition.size).toBe(16);
    expect(t.mshv_create_partition_v2.size).toBe(64);
    expect(t.mshv_create_partition_v2.align).toBe(1);
    expect(t.mshv_user_mem_region.size).toBe(32);
    expect(t.mshv_user_irqfd.size).toBe(16);
    expect(t.mshv_user_ioeventfd.size).toBe(32);
    expect(t.mshv_user_irq_table.size).toBe(8);
    expect(t.mshv_gpap_access_bitmap.size).toBe(32);
    expect(t.mshv_root_hvcall.size).toBe(32);
    expect(t.mshv_get_set_vp_state.size).toBe(16);
    expect(t.mshv_run_vp.size).toBe(256);
  });

  it('says that the v2 struct is read through the 16-byte number', () => {
    const io = set.ioctls.find((i) => i.name === 'MSHV_CREATE_PARTITION')!;
    expect(io.sizes.lp64).toBe(16);
    expect(io.returns).toEqual({ kind: 'fd', object: 'partition' });
    expect(io.notes!.join(' ')).toMatch(/mshv_create_partition_v2.*64|64-byte/);
    expect(set.constants.MSHV_PT_BIT_CPU_AND_XSAVE_FEATURES).toBe(3);
    // pt_flags bit 3 picks the payload: the sub-table gives the real size.
    expect(io.multiplex).toBe('create_partition');
    const table = set.subtables.create_partition;
    expect(table.keyFields).toEqual(['pt_flags:3:1']);
    expect(table.entries.map((e) => [e.key, e.size])).toEqual([[{ 'pt_flags:3:1': 0 }, 16], [{ 'pt_flags:3:1': 1 }, 64]]);
  });

  it('sizes the _ptr buffers by their fields', () => {
    const hv = set.ioctls.find((i) => i.name === 'MSHV_ROOT_HVCALL')!;
    expect(hv.arg.kind === 'pointer' && hv.arg.pointers).toEqual([
      { field: 'in_ptr', dir: 'in', size: { kind: 'field', field: 'in_sz' } },
      { field: 'out_ptr', dir: 'out', size: { kind: 'field', field: 'out_sz' } },
    ]);
    const bitmap = set.ioctls.find((i) => i.name === 'MSHV_GET_GPAP_ACCESS_BITMAP')!;
    expect(bitmap.arg.kind === 'pointer' && bitmap.arg.pointers![0]).toMatchObject({ field: 'bitmap_ptr', dir: 'out', size: { field: 'page_count', bits: true } });
    const routing = set.ioctls.find((i) => i.name === 'MSHV_SET_MSI_ROUTING')!;
    expect(routing.arg.kind === 'pointer' && routing.arg.tail).toMatchObject({ field: 'entries', countField: 'nr' });
  });

  it('numbers each fd from 0: the same nr means different things on different fds', () => {
    const nr0 = set.ioctls.filter((i) => i.encoding.nr === 0).map((i) => `${i.name}@${i.on.join('/')}`).sort();
    expect(nr0).toEqual(['MSHV_CREATE_PARTITION@system', 'MSHV_INITIALIZE_PARTITION@partition', 'MSHV_RUN_VP@vp']);
  });
});

describe('mshv_vtl and the 2020 RFC', () => {
  it('brings CHECK_EXTENSION back on /dev/mshv with its capabilities', () => {
    const vtl = registry.set('mshv-vtl');
    const ce = vtl.ioctls.find((i) => i.name === 'MSHV_CHECK_EXTENSION')!;
    expect(ce.numbers.lp64).toBe(0x4004b800);
    expect(ce.on).toEqual(['system']);
    expect(vtl.constants).toMatchObject({ MSHV_CAP_CORE_API_STABLE: 0, MSHV_CAP_REGISTER_PAGE: 1, MSHV_CAP_VTL_RETURN_ACTION: 2, MSHV_CAP_DR6_SHARED: 3 });
  });

  it('gives 0x4008B825 two meanings that only the fd tells apart', () => {
    const c = collisions(registry.set('mshv-vtl'));
    expect(c).toHaveLength(1);
    expect(c[0].number).toBe(0x4008b825);
    expect(c[0].ioctls).toEqual([
      { name: 'MSHV_SET_POLL_FILE', on: ['vtl'] },
      { name: 'MSHV_SINT_PAUSE_MESSAGE_STREAM', on: ['sint'] },
    ]);
    expect(c[0].toldApartBy).toMatch(/object/);
    expect(registry.lookup(0x4008b825, 'sint', 'lp64', 'mshv')!.name).toBe('MSHV_SINT_PAUSE_MESSAGE_STREAM');
    expect(registry.lookup(0x4008b825, 'vtl', 'lp64', 'mshv')!.name).toBe('MSHV_SET_POLL_FILE');
  });

  it('keeps the RFC\'s REQUEST_VERSION at the number CHECK_EXTENSION took over', () => {
    const rfc = registry.set('mshv-rfc2020');
    expect(rfc.origin).toBe('history');
    expect(rfc.ioctls.map((i) => [i.name, i.numbers.lp64])).toEqual([['MSHV_REQUEST_VERSION', 0x4004b800]]);
  });
});

describe.skipIf(!hasGcc)('regenerating the MSHV sets from schemas/mshv/*.h', () => {
  for (const spec of MSHV_SETS) {
    it.skipIf(spec.abis.includes('ilp32') && !hasGcc32)(spec.id, () => {
      const committed = JSON.parse(readFileSync(dataPath(`data/${spec.id}.json`), 'utf8'));
      const g = generateFamilySet(spec);
      if ('skipped' in g) throw new Error(g.skipped);
      const fresh = JSON.parse(serializeSet(g.set));
      for (const key of ['ioctls', 'types', 'constants', 'subtables', 'protocol', 'objects', 'abis'] as const) expect(fresh[key], key).toEqual(committed[key]);
    }, 60_000);
  }
});
