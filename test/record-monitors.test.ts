// Records the sample monitor in each CPU mode on the real /dev/kvm and checks that the trace holds
// what the design promises: decoded requests with their regions, the exits, guest memory.

import { readFileSync, statSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { decodeExit } from '../schemas/codec.js';
import { SchemaRegistry } from '../schemas/registry.js';
import type { IoctlEvent, MemoryEvent, Region, TraceEvent } from '../traces/events.js';
import { buildMonitors, kvmSkipReason, recordCommand, type Recording } from './support/monitors.js';

const registry = SchemaRegistry.default();
const kvm = registry.set('kvm-linux');

function nameOf(e: IoctlEvent): string | undefined {
  return registry.lookup(e.request, undefined, 'lp64')?.name;
}
const ioctls = (trace: TraceEvent[], name: string) => trace.filter((e): e is IoctlEvent => e.type === 'ioctl' && nameOf(e) === name);
const region = (e: IoctlEvent, role: string, side: 'before' | 'after' = 'after'): Region | undefined => e.regions.find((r) => r.role === role && r[side]);
const text = (b: Uint8Array | undefined) => Buffer.from(b ?? []).toString('latin1');
const u64 = (b: Uint8Array | undefined, at = 0) => Buffer.from(b ?? []).readBigUInt64LE(at);

function exits(trace: TraceEvent[]) {
  return ioctls(trace, 'KVM_RUN').map((e) => ({ event: e, exit: decodeExit(kvm, 'lp64', region(e, 'run')!.after!)! }));
}

function slotBase(trace: TraceEvent[]): number {
  const [low] = ioctls(trace, 'KVM_SET_USER_MEMORY_REGION');
  return Number(u64(region(low, 'arg', 'before')!.before, 24));
}
const memory = (trace: TraceEvent[]) => trace.filter((e): e is MemoryEvent => e.type === 'memory');

/** kvmmon writes 'W' at gpa 0x3000 when the guest writes port 0x3fa: recorded before the next run. */
function expectMonitorWrite(trace: TraceEvent[]): void {
  const target = slotBase(trace) + 0x3000;
  const write = memory(trace).find((e) => e.why === 'write' && e.addr <= target && e.addr + e.data.length > target && e.data[target - e.addr] === 'W'.charCodeAt(0));
  expect(write).toBeDefined();
  const asked = exits(trace).find((x) => (x.exit.data as Record<string, number>)?.port === 0x3fa)!.event;
  const next = ioctls(trace, 'KVM_RUN').find((e) => e.seq > asked.seq)!;
  expect(write!.seq).toBeGreaterThan(asked.seq);
  expect(write!.seq).toBeLessThan(next.seq);
}

describe.skipIf(kvmSkipReason)(`record the sample monitor (${kvmSkipReason ?? 'real /dev/kvm'})`, () => {
  const modes = [
    ['real', 'real'],
    ['prot32', 'prot32'],
    ['long', 'long64'],
  ] as const;

  describe.each(modes)('in %s mode', (mode, guest) => {
    let rec: Recording;
    const run = async () => {
      const m = buildMonitors();
      rec ??= await recordCommand([m.kvmmon, '--mode', mode, '--quiet', '--exit-code', '7', m.guests[guest]]);
      return { rec, m };
    };

    it('passes the exit status through and writes a 0600 native trace', async () => {
      const { rec } = await run();
      expect(rec.exit.status).toBe(7);
      expect(statSync(rec.path).mode & 0o777).toBe(0o600);
      expect(rec.header).toMatchObject({ recorder: 'native', abi: 'lp64', memcheck: false });
      expect(rec.header.schemaSets[0]).toMatch(/^kvm-linux@[0-9a-f]{12}$/);
      const last = rec.trace.at(-1)!;
      expect(last).toMatchObject({ type: 'exit', status: 7 });
      expect(rec.trace.map((e) => e.seq)).toEqual(rec.trace.map((_, i) => i));
    });

    it('records the ioctls the monitor makes, with their argument regions', async () => {
      const { rec } = await run();
      expect(rec.trace.find((e) => e.type === 'open')).toMatchObject({ path: '/dev/kvm', errno: 0 });
      for (const name of ['KVM_GET_API_VERSION', 'KVM_CREATE_VM', 'KVM_SET_USER_MEMORY_REGION', 'KVM_CREATE_VCPU', 'KVM_SET_SREGS', 'KVM_SET_REGS', 'KVM_RUN']) {
        expect(ioctls(rec.trace, name).length, name).toBeGreaterThan(0);
      }
      const sregs = ioctls(rec.trace, 'KVM_SET_SREGS')[0];
      expect(region(sregs, 'arg')).toMatchObject({ dir: 'in', length: 312 });
      const cpuid = ioctls(rec.trace, 'KVM_SET_CPUID2')[0];
      const arg = region(cpuid, 'arg', 'before')!;
      const nent = Buffer.from(arg.before!).readUInt32LE(0);
      expect(nent).toBeGreaterThan(0);
      expect(arg.length).toBe(8 + nent * 40);
      const supported = ioctls(rec.trace, 'KVM_GET_SUPPORTED_CPUID')[0];
      expect(region(supported, 'arg')!.dir).toBe('inout');
      const msrs = ioctls(rec.trace, 'KVM_GET_MSRS')[0];
      expect(msrs.ret).toBe(1);
      expect(region(msrs, 'arg')!.length).toBe(8 + 16);
      expect(u64(region(msrs, 'arg')!.after, 16)).toBe(BigInt('K'.charCodeAt(0)));
    });

    it('sizes the buffers behind embedded pointers: /dev/kvm and VFIO device attributes', async () => {
      const { rec } = await run();
      const [sys] = ioctls(rec.trace, 'KVM_GET_DEVICE_ATTR').filter((e) => e.fd === rec.trace.find((o) => o.type === 'open')!.fd);
      expect(sys.ret).toBe(0);
      expect(region(sys, 'addr')).toMatchObject({ length: 8, dir: 'out' });
      expect(u64(region(sys, 'addr')!.after) & 3n).toBe(3n); // x87 and SSE state
      const created = ioctls(rec.trace, 'KVM_CREATE_DEVICE')[0];
      if (created.ret !== 0) return; // a kernel without the VFIO KVM device: kvmmon said so on stderr
      expect(ioctls(rec.trace, 'KVM_HAS_DEVICE_ATTR')[0].ret).toBe(0);
      const set = ioctls(rec.trace, 'KVM_SET_DEVICE_ATTR')[0];
      expect(region(set, 'addr', 'before')).toMatchObject({ length: 4, dir: 'in' });
      expect(Buffer.from(region(set, 'addr', 'before')!.before!).readInt32LE(0)).toBe(-1);
      expect(rec.trace.some((e) => e.type === 'dup')).toBe(true);
    });

    it('sizes the dirty bitmap by its slot and the ONE_REG buffer by the size bits of the id', async () => {
      const { rec } = await run();
      const [log] = ioctls(rec.trace, 'KVM_GET_DIRTY_LOG');
      expect(log.ret).toBe(0);
      // Slot 1 is 0x140000 bytes: 320 pages, 5 u64s of bitmap.
      expect(region(log, 'dirty_bitmap')).toMatchObject({ length: 40, dir: 'out' });
      const [reg] = ioctls(rec.trace, 'KVM_GET_ONE_REG');
      expect(region(reg, 'addr', 'before')).toMatchObject({ length: 8, dir: 'out' });
    });

    it('records the exits: string and single port I/O, MMIO, HLT', async () => {
      const { rec } = await run();
      const all = exits(rec.trace);
      const reasons = new Set(all.map((x) => x.exit.reason));
      expect([...reasons]).toEqual(expect.arrayContaining(['KVM_EXIT_IO', 'KVM_EXIT_MMIO', 'KVM_EXIT_HLT']));
      const io = all.filter((x) => x.exit.reason === 'KVM_EXIT_IO').map((x) => ({ ...x, io: x.exit.data as Record<string, number> }));
      const out = io.filter((x) => x.io.port === 0x3f8).map((x) => text(region(x.event, 'run.io')!.after)).join('');
      expect(out).toContain('hello\n');
      expect(out).toContain('AABCDZW');
      // The data the monitor put into kvm_run for IN exits is recorded before the next run.
      const given = ioctls(rec.trace, 'KVM_RUN').map((e) => text(region(e, 'run.io', 'before')?.before)).join('');
      expect(given).toContain('AABCD');
      const mmio = all.filter((x) => x.exit.reason === 'KVM_EXIT_MMIO').map((x) => x.exit.data as Record<string, unknown>);
      expect(mmio.find((m) => m.is_write)).toMatchObject({ phys_addr: 0xb8000n, len: 1 });
      expect(mmio.find((m) => !m.is_write)).toMatchObject({ phys_addr: 0xb8004n });
      // What the monitor answered to the MMIO read is in kvm_run before the next run (mmio.data at 40).
      const read = all.find((x) => x.exit.reason === 'KVM_EXIT_MMIO' && !(x.exit.data as Record<string, unknown>).is_write)!.event;
      const next = ioctls(rec.trace, 'KVM_RUN').find((e) => e.seq > read.seq && e.fd === read.fd)!;
      expect(region(next, 'run', 'before')!.before![40]).toBe('Z'.charCodeAt(0));
    });

    it('records guest memory at registration and the monitor writes before the next run', async () => {
      const { rec, m } = await run();
      const base = slotBase(rec.trace);
      const code = readFileSync(m.guests[guest]);
      const loaded = memory(rec.trace).find((e) => e.why === 'register' && e.addr <= base + 0x1000 && e.addr + e.data.length > base + 0x1000)!;
      expect(Buffer.from(loaded.data.subarray(base + 0x1000 - loaded.addr, base + 0x1000 - loaded.addr + code.length))).toEqual(code);
      expect(rec.trace.some((e) => e.type === 'note' && /pages all zero, not recorded; writes tracked by userfaultfd write-protect/.test(e.message))).toBe(true);
      expectMonitorWrite(rec.trace);
    });
  });

  describe.each([
    ['memfd-backed RAM', undefined, ['--memfd'], 'userfaultfd write-protect'],
    ['tracking forced to async', 'async', [], 'PAGEMAP_SCAN'],
    ['tracking forced to shadow', 'shadow', [], 'shadow compare'],
  ])('guest memory: %s', (_, method, flags, named) => {
    afterEach(() => {
      delete process.env.IOCTLGRIND_MEMTRACK;
    });

    it('still records the monitor write before the next run', async () => {
      const m = buildMonitors();
      if (method) process.env.IOCTLGRIND_MEMTRACK = method;
      const rec = await recordCommand([m.kvmmon, '--quiet', ...flags, m.guests.real]);
      expect(rec.exit.status).toBe(0);
      expect(rec.trace.some((e) => e.type === 'note' && e.message.endsWith(`writes tracked by ${named}`))).toBe(true);
      expectMonitorWrite(rec.trace);
    });
  });
});
