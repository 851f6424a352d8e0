import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SchemaRegistry } from '../schemas/registry.js';
import { codec, FRAME_HEADER_BYTES, TraceError } from '../traces/frame.js';
import { indexTrace } from '../traces/index.js';
import { kvmSampleEvents, writeTrace } from './support/trace-fixtures.js';

let dir: string;
let trace: string;
let db: Database.Database;

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'iog-index-'));
  trace = path.join(dir, 'sample.trace');
  writeTrace(trace);
  const summary = indexTrace(trace, SchemaRegistry.default());
  expect(summary).toEqual({ events: kvmSampleEvents().length, objects: 5, truncated: null });
  db = new Database(`${trace}.db`, { readonly: true });
});
afterAll(() => {
  db.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

const all = (sql: string, ...params: unknown[]) => db.prepare(sql).all(...params);

describe('trace index', () => {
  it('is written beside the trace with mode 0600, leaving no temporary file', () => {
    expect(fs.statSync(`${trace}.db`).mode & 0o777).toBe(0o600);
    expect(fs.readdirSync(dir).sort()).toEqual(['sample.trace', 'sample.trace.db']);
  });

  it('counts ioctls by name and object', () => {
    const rows = all(`SELECT object, name, count(*) AS n FROM events WHERE type = 'ioctl' GROUP BY object, name ORDER BY min(seq)`);
    expect(rows).toEqual([
      { object: 'kvm', name: 'KVM_GET_API_VERSION', n: 1 },
      { object: 'kvm', name: 'KVM_CREATE_VM', n: 1 },
      { object: 'kvm', name: 'KVM_GET_VCPU_MMAP_SIZE', n: 1 },
      { object: 'vm0', name: 'KVM_CREATE_VCPU', n: 2 },
      { object: 'vm0', name: 'KVM_SET_USER_MEMORY_REGION', n: 1 },
      { object: 'vm0/vcpu0', name: 'KVM_RUN', n: 2 },
      { object: 'vm0', name: 'KVM_CREATE_DEVICE', n: 1 },
      { object: 'vm0/device0', name: 'KVM_SET_DEVICE_ATTR', n: 1 },
    ]);
  });

  it('finds failed calls with their errno', () => {
    expect(all(`SELECT seq, name, ret, errno FROM events WHERE errno != 0`)).toEqual([
      { seq: 11, name: 'KVM_RUN', ret: -1, errno: 4 },
    ]);
  });

  it('lists the objects with kind, device type, and when they were created and closed', () => {
    const exit = kvmSampleEvents().at(-1)!.seq;
    expect(all(`SELECT path, kind, device, pid, created_seq, closed_seq FROM objects ORDER BY id`)).toEqual([
      { path: 'kvm', kind: 'system', device: null, pid: 100, created_seq: 0, closed_seq: exit },
      { path: 'vm0', kind: 'vm', device: null, pid: 100, created_seq: 2, closed_seq: exit },
      { path: 'vm0/vcpu0', kind: 'vcpu', device: null, pid: 100, created_seq: 4, closed_seq: 12 },
      { path: 'vm0/vcpu1', kind: 'vcpu', device: null, pid: 100, created_seq: 13, closed_seq: exit },
      { path: 'vm0/device0', kind: 'device', device: 'vfio', pid: 100, created_seq: 14, closed_seq: exit },
    ]);
  });

  it('holds regions, exits and guest memory', () => {
    expect(all(`SELECT e.name, r.role, r.length, r.dir FROM regions r JOIN events e USING (seq) ORDER BY r.seq, r.rowid`)).toEqual([
      { name: 'KVM_SET_USER_MEMORY_REGION', role: 'arg', length: 32, dir: 'in' },
      { name: 'KVM_RUN', role: 'run', length: 2352, dir: 'inout' },
      { name: 'KVM_RUN', role: 'run.io', length: 1, dir: 'out' },
      { name: 'KVM_CREATE_DEVICE', role: 'arg', length: 12, dir: 'inout' },
      { name: 'KVM_SET_DEVICE_ATTR', role: 'arg', length: 24, dir: 'in' },
      { name: 'KVM_SET_DEVICE_ATTR', role: 'addr', length: 4, dir: 'in' },
    ]);
    expect(all(`SELECT seq, object, reason FROM exits`)).toEqual([{ seq: 8, object: 'vm0/vcpu0', reason: 'KVM_EXIT_IO' }]);
    expect(all(`SELECT why, length FROM memory`)).toEqual([{ why: 'register', length: 4096 }]);
  });

  it('points each event at its frame in the trace file', () => {
    const bytes = fs.readFileSync(trace);
    for (const { seq, offset } of all(`SELECT seq, offset FROM events`) as { seq: number; offset: number }[]) {
      const length = bytes.readUInt32LE(offset);
      const payload = bytes.subarray(offset + FRAME_HEADER_BYTES, offset + FRAME_HEADER_BYTES + length);
      expect(codec.unpack(payload).seq).toBe(seq);
    }
  });

  it('indexes the whole events of a truncated trace and records the cut', () => {
    const cut = path.join(dir, 'cut.trace');
    const bytes = fs.readFileSync(trace);
    fs.writeFileSync(cut, bytes.subarray(0, bytes.length - 5));
    const output = path.join(dir, 'cut.db');
    const summary = indexTrace(cut, SchemaRegistry.default(), output);
    expect(summary.events).toBe(kvmSampleEvents().length - 1);
    expect(summary.truncated?.offset).toBeGreaterThan(0);
    const cutDb = new Database(output, { readonly: true });
    const meta = cutDb.prepare(`SELECT value FROM meta WHERE key = 'truncated'`).pluck().get() as string;
    cutDb.close();
    expect(JSON.parse(meta)).toEqual(summary.truncated);
  });

  it('fails on a corrupt trace without leaving a database behind', () => {
    const corrupt = path.join(dir, 'corrupt.trace');
    const bytes = fs.readFileSync(trace);
    bytes[bytes.length - 3] ^= 0xff;
    fs.writeFileSync(corrupt, bytes);
    expect(() => indexTrace(corrupt, SchemaRegistry.default())).toThrow(TraceError);
    expect(fs.readdirSync(dir).filter((f) => f.startsWith('corrupt'))).toEqual(['corrupt.trace']);
  });
});
