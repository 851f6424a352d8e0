// Traces recorded in-process: the emulated core's front-end knows every byte it read and wrote, so
// its regions carry exact read and write sets; both back-ends log guest memory as the native
// recorder does (non-zero pages at registration, the monitor's writes before the next run).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { RecordingDriver } from '../recorder/inprocess.js';
import type { IoctlEvent, MemoryEvent, Region, TraceEvent } from '../traces/events.js';
import { TraceReader } from '../traces/reader.js';
import type { Driver } from '../vmx/driver.js';
import { HostDriver, kvmUnavailable } from '../vmx/host/driver.js';
import { EmulatedKvm } from '../vmx/kvm/frontend.js';
import { KvmClient } from '../vmx/monitor/kvm-client.js';

const noKvm = kvmUnavailable();
const dir = mkdtempSync(join(tmpdir(), 'ioctlgrind-exact-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The byte indexes a bitmap marks. */
function marked(bits: Uint8Array | undefined, length: number): number[] {
  return Array.from({ length }, (_, i) => i).filter((i) => bits !== undefined && (bits[i >> 3] >> (i & 7)) & 1);
}
const span = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);

/**
 * A tiny session: registers RAM, writes `out 0xf4, al` (AL=7) at 0x1000 after registration, runs it,
 * and makes the register and MSR calls under test. Returns the trace's events.
 */
function record(inner: Driver, name: string): { header: TraceReader['header']; events: TraceEvent[] } {
  const path = join(dir, `${name}.trace`);
  const d = new RecordingDriver(inner, { output: path, command: [name] });
  const k = KvmClient.open(d);
  const vm = k.value(k.system, 'KVM_CREATE_VM');
  const ram = d.memory.alloc(0x10000, 4096);
  d.memory.write(ram + 0x2000, new Uint8Array([0x5a]));
  k.struct(vm, 'KVM_SET_USER_MEMORY_REGION', { slot: 0, flags: 0, guest_phys_addr: 0n, memory_size: 0x10000n, userspace_addr: BigInt(ram) });
  d.memory.write(ram + 0x1000, new Uint8Array([0xb0, 0x07, 0xe6, 0xf4]));
  const vcpu = k.value(vm, 'KVM_CREATE_VCPU', 0);
  const run = d.mmap(vcpu, k.value(k.system, 'KVM_GET_VCPU_MMAP_SIZE'), 0);
  const sregs = k.struct(vcpu, 'KVM_GET_SREGS', {}).out;
  k.struct(vcpu, 'KVM_SET_SREGS', { ...sregs, cs: { ...(sregs.cs as object), base: 0n, selector: 0 } });
  const regs = k.struct(vcpu, 'KVM_GET_REGS', {}).out;
  k.struct(vcpu, 'KVM_SET_REGS', { ...regs, rip: 0x1000n, rflags: 2n });
  k.value(vcpu, 'KVM_RUN');
  k.struct(vcpu, 'KVM_GET_MSRS', { nmsrs: 3, entries: [{ index: 0x174 }, { index: 0x175 }, { index: 0x12345 }] });
  d.munmap(run, 12288);
  d.finish(0);
  const reader = TraceReader.open(path);
  return { header: reader.header, events: [...reader] };
}

const ioctl = (events: TraceEvent[], name: string, k: KvmClient) => events.find((e): e is IoctlEvent => e.type === 'ioctl' && e.request === k.schema(name).numbers.lp64);
const arg = (e: IoctlEvent | undefined): Region => e!.regions.find((r) => r.role === 'arg')!;

describe('in-process traces of the emulated core', () => {
  const k = KvmClient.open(new EmulatedKvm());
  const { header, events } = record(new EmulatedKvm(), 'emulator');

  it('say who recorded them and that they are exact', () => {
    expect(header.recorder).toBe('emulator');
    expect(header.exact).toBe(true);
  });

  it('find every byte the front-end touched inside a region its schema names', () => {
    expect(events.filter((e) => e.type === 'note')).toEqual([]);
  });

  it('show KVM_GET_REGS writing all of kvm_regs and reading none of it', () => {
    const r = arg(ioctl(events, 'KVM_GET_REGS', k));
    expect(r.length).toBe(144);
    expect(marked(r.written, 144)).toEqual(span(0, 144));
    expect(marked(r.read, 144)).toEqual([]);
  });

  it('show KVM_SET_REGS reading all of kvm_regs and writing none of it', () => {
    const r = arg(ioctl(events, 'KVM_SET_REGS', k));
    expect(marked(r.read, 144)).toEqual(span(0, 144));
    expect(marked(r.written, 144)).toEqual([]);
  });

  it('show KVM_GET_MSRS reading the header and every entry, and writing back every entry whole', () => {
    const e = ioctl(events, 'KVM_GET_MSRS', k)!;
    expect(e.ret).toBe(2);
    const r = arg(e);
    expect(r.length).toBe(8 + 3 * 16);
    expect(marked(r.read, r.length)).toEqual(span(0, 56));
    // msr_io copies all nmsrs entries back, indexes and the unprocessed third entry included.
    expect(marked(r.written, r.length)).toEqual(span(8, 56));
  });

  it('show KVM_RUN reading immediate_exit and writing the exit it describes', () => {
    const e = ioctl(events, 'KVM_RUN', k)!;
    const run = e.regions.find((r) => r.role === 'run')!;
    const read = marked(run.read, run.length);
    expect(read).toContain(k.offsetOf('kvm_run', 'immediate_exit'));
    const written = marked(run.written, run.length);
    const exitReason = k.offsetOf('kvm_run', 'exit_reason');
    expect(written).toEqual(expect.arrayContaining(span(exitReason, exitReason + 4)));
    const io = k.offsetOf('kvm_run', 'io');
    expect(written).toEqual(expect.arrayContaining(span(io, io + 16)));
    const data = e.regions.find((r) => r.role === 'run.io')!;
    expect(data.after).toEqual(new Uint8Array([7]));
    expect(marked(data.written, 1)).toEqual([0]);
  });
});

function memoryChecks(inner: () => Driver, recorder: string): void {
  const { header, events } = record(inner(), recorder);

  it(`are marked ${recorder}`, () => expect(header.recorder).toBe(recorder));

  it('hold the non-zero guest pages at registration, and the monitor\'s later writes before the run', () => {
    const memory = events.filter((e): e is MemoryEvent => e.type === 'memory');
    const register = memory.filter((m) => m.why === 'register');
    expect(register).toHaveLength(1);
    expect(register[0].data.length).toBe(4096);
    expect(register[0].data[0]).toBe(0x5a);
    const writes = memory.filter((m) => m.why === 'write');
    expect(writes).toHaveLength(1);
    expect(writes[0].data.subarray(0, 4)).toEqual(new Uint8Array([0xb0, 0x07, 0xe6, 0xf4]));
    expect(writes[0].addr - register[0].addr).toBe(-0x1000);
    const runSeq = events.find((e) => e.type === 'ioctl' && e.request === 0xae80)!.seq;
    expect(writes[0].seq).toBeLessThan(runSeq);
  });

  it('hold open, mmap, munmap and close events', () => {
    const types = new Set(events.map((e) => e.type));
    for (const t of ['open', 'mmap', 'munmap', 'exit']) expect(types).toContain(t);
  });
}

describe('in-process traces of the emulated core, guest memory', () => memoryChecks(() => new EmulatedKvm(), 'emulator'));
describe.skipIf(noKvm !== undefined)(`in-process traces of /dev/kvm${noKvm ? ` (skipped: ${noKvm})` : ''}`, () => memoryChecks(() => new HostDriver(), 'kvm-inprocess'));
