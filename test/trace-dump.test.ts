import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packageRoot } from '../schemas/paths.js';
import { SchemaRegistry } from '../schemas/registry.js';
import { dumpLines } from '../traces/format.js';
import { TraceReader } from '../traces/reader.js';
import { EventBuilder, writeTrace } from './support/trace-fixtures.js';

let dir: string;
let trace: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'iog-dump-'));
  trace = path.join(dir, 'sample.trace');
  writeTrace(trace);
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function dump(file: string, json: boolean): string[] {
  return [...dumpLines(TraceReader.open(file), SchemaRegistry.default(), json)];
}

function dumpJson(file: string): Record<string, any>[] {
  return dump(file, true).map((line) => JSON.parse(line));
}

const IOCTL_KEYS = ['fd', 'object', 'device', 'request', 'name', 'dir', 'size', 'ret', 'errno', 'in', 'out'];

describe('dump --json', () => {
  it('gives every event the contract keys, and every ioctl the ioctl keys', () => {
    const events = dumpJson(trace);
    expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => i));
    for (const e of events) {
      for (const key of ['seq', 'type', 'pid', 'tid']) expect(e, `${e.seq} ${key}`).toHaveProperty(key);
      if (e.type !== 'ioctl') continue;
      for (const key of IOCTL_KEYS) expect(e, `${e.seq} ${key}`).toHaveProperty(key);
      expect(e.request).toMatch(/^0x[0-9a-f]+$/);
      expect(['_IO', '_IOR', '_IOW', '_IOWR', 'none']).toContain(e.dir);
    }
  });

  it('names requests through the object and gives the objects readable paths', () => {
    const ioctls = dumpJson(trace).filter((e) => e.type === 'ioctl');
    expect(ioctls.map((e) => [e.object, e.name])).toEqual([
      ['kvm', 'KVM_GET_API_VERSION'],
      ['kvm', 'KVM_CREATE_VM'],
      ['kvm', 'KVM_GET_VCPU_MMAP_SIZE'],
      ['vm0', 'KVM_CREATE_VCPU'],
      ['vm0', 'KVM_SET_USER_MEMORY_REGION'],
      ['vm0/vcpu0', 'KVM_RUN'],
      ['vm0/vcpu0', 'KVM_RUN'],
      ['vm0', 'KVM_CREATE_VCPU'],
      ['vm0', 'KVM_CREATE_DEVICE'],
      ['vm0/device0', 'KVM_SET_DEVICE_ATTR'],
    ]);
    const setAttr = ioctls.at(-1)!;
    expect(setAttr).toMatchObject({ device: 'vfio', request: '0x4018aee1', dir: '_IOW', size: 24 });
  });

  it('decodes fields before and after the call, embedded-pointer payloads included; bigints as hex', () => {
    const byName = (name: string) => dumpJson(trace).filter((e) => e.name === name);
    const [memory] = byName('KVM_SET_USER_MEMORY_REGION');
    expect(memory.in).toEqual({
      slot: 0,
      flags: 0,
      guest_phys_addr: '0x0',
      memory_size: '0x1000',
      userspace_addr: '0x7f1000000000',
    });
    expect(memory.out).toBeNull();
    const [device] = byName('KVM_CREATE_DEVICE');
    expect(device.in).toEqual({ type: 4, fd: 0, flags: 0 });
    expect(device.out).toEqual({ type: 4, fd: 7, flags: 0 });
    expect(device.created).toBe('vm0/device0');
    // The VFIO group fd behind kvm_device_attr.addr, typed by the device-attr sub-table.
    const [attr] = byName('KVM_SET_DEVICE_ATTR');
    expect(attr.in).toMatchObject({ group: 1, attr: '0x1', addr_payload: 11 });
  });

  it('gives run ioctls their exit, decoded', () => {
    const [run, interrupted] = dumpJson(trace).filter((e) => e.name === 'KVM_RUN');
    expect(run.exit).toMatchObject({
      reason: 'KVM_EXIT_IO',
      reasonValue: 2,
      data: { direction: 1, size: 1, port: 0x3f8, count: 1, data_offset: '0x1000' },
    });
    expect(run.out).toEqual({ 'run.io_payload': '41' });
    expect(interrupted).toMatchObject({ ret: -1, errno: 4, exit: null });
  });

  it('gives an ioctl on an fd it never saw opened an unknown object and a null name where ambiguous', () => {
    const file = path.join(dir, 'unknown.trace');
    const b = new EventBuilder();
    b.ioctl(9, 0xc0ffae99);
    writeTrace(file, b.events);
    const [e] = dumpJson(file);
    expect(e).toMatchObject({ object: 'fd9?', name: null, request: '0xc0ffae99', dir: '_IOWR', size: 0xff });
  });
});

describe('dump (text)', () => {
  it('prints one strace-like line an event', () => {
    const lines = dump(trace, false);
    expect(lines).toHaveLength(dumpJson(trace).length);
    expect(lines[0]).toBe('0 [pid 100] open("/dev/kvm", 0x80002) = 3 <kvm>');
    expect(lines).toContain('4 [pid 100] ioctl(4<vm0>, KVM_CREATE_VCPU, 0) = 5 <vm0/vcpu0>');
    const run = lines.find((l) => l.includes('KVM_RUN) = 0'));
    expect(run).toMatch(/^8 \[pid 100\] ioctl\(5<vm0\/vcpu0>, KVM_RUN\) = 0 .*exit KVM_EXIT_IO \{.*port=0x3f8/);
    expect(lines.find((l) => l.includes('EINTR'))).toBe('11 [pid 100] ioctl(6<vm0/vcpu0>, KVM_RUN) = -1 EINTR');
  });
});

// The command itself, where it has been built with the dump command registered.
const cli = path.join(packageRoot(), 'dist/cli/main.js');
const built = fs.existsSync(cli) && fs.readFileSync(cli, 'utf8').includes('dumpCommand');

describe.skipIf(!built)('ioctlgrind dump', () => {
  const run = (...args: string[]) => spawnSync(process.execPath, [cli, 'dump', ...args], { encoding: 'utf8' });

  it('prints JSON Lines with --json', () => {
    const result = run(trace, '--json');
    expect(result.status).toBe(0);
    expect(result.stdout.trim().split('\n').map((l) => JSON.parse(l))).toEqual(dumpJson(trace));
  });

  it('reports a corrupt or missing trace in one line, exit 1, no stack', () => {
    const corrupt = path.join(dir, 'corrupt.trace');
    const bytes = fs.readFileSync(trace);
    bytes[bytes.length - 3] ^= 0xff;
    fs.writeFileSync(corrupt, bytes);
    for (const file of [corrupt, path.join(dir, 'missing.trace')]) {
      const result = run(file);
      expect(result.status).toBe(1);
      expect(result.stderr.trim().split('\n')).toHaveLength(1);
      expect(result.stderr).toContain(file);
      expect(result.stderr).not.toMatch(/\n\s+at /);
    }
  });

  it('dumps the whole events of a truncated trace, then warns in one line naming the offset', () => {
    const cut = path.join(dir, 'cut.trace');
    const bytes = fs.readFileSync(trace);
    fs.writeFileSync(cut, bytes.subarray(0, bytes.length - 5));
    const result = run(cut);
    expect(result.status).toBe(0);
    expect(result.stdout.trim().split('\n')).toEqual(dump(trace, false).slice(0, -1));
    expect(result.stderr).toMatch(/^ioctlgrind: warning: .*cut\.trace: truncated at byte \d+: [^\n]*\n$/);
  });
});
