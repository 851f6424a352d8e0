// Turns the shim's per-process raw logs into trace events: ioctl entry and exit records joined,
// regions merged (bytes before, after, memcheck definedness), everything ordered by the global
// sequence number and renumbered, the recorder's own remarks added as notes.

import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Abi } from '../schemas/model.js';
import type { IoctlEvent, Region, TraceEvent } from '../traces/events.js';
import { openRawLog, rawRecords, type RawBody, type RawLog, type RawRecord, type RawRegion } from './rawlog.js';
import type { TargetExit } from './spawn.js';

type Body<E> = E extends TraceEvent ? Omit<E, 'seq' | 'pid' | 'tid' | 't'> : never;

/** An event before renumbering: `order` is the raw sequence number (fractions for notes). */
interface Pending {
  order: number;
  pid: number;
  /** The process whose raw log held it (a vfork child's exec is in its parent's log). */
  owner: number;
  tid: number;
  time?: bigint;
  body: Body<TraceEvent>;
}

export interface IngestInput {
  rawDir: string;
  /** CLOCK_MONOTONIC ns when the recording started; event times are relative to it. */
  t0: bigint;
  /** The trace header's data model (the target's). */
  abi: Abi;
  /** The target process and how it ended: its exit event comes from here, not from the shim. */
  root: TargetExit;
}

function undefBitmap(vbits: Uint8Array): Uint8Array {
  const out = new Uint8Array(Math.ceil(vbits.length / 8));
  vbits.forEach((v, i) => {
    if (v) out[i >> 3] |= 1 << (i & 7);
  });
  return out;
}

/**
 * Pairs each entry-side region with the exit-side one of the same role and span. `run.io` before
 * and after a run may differ (the previous exit's data, the new exit's): they stay two regions.
 */
function mergeRegions(before: RawRegion[], after: RawRegion[]): Region[] {
  const left = [...after];
  const out: Region[] = before.map((b) => {
    const i = left.findIndex((a) => a.role === b.role && a.addr === b.addr && a.length === b.length);
    const a = i >= 0 ? left.splice(i, 1)[0] : undefined;
    const r: Region = { role: b.role, addr: b.addr, length: b.length, dir: b.dir, before: b.data };
    if (a) r.after = a.data;
    if (b.vbits) r.undef = undefBitmap(b.vbits);
    const problem = b.problem ?? a?.problem;
    if (problem) r.problem = problem;
    return r;
  });
  for (const a of left) out.push({ role: a.role, addr: a.addr, length: a.length, dir: a.dir, after: a.data, ...(a.problem ? { problem: a.problem } : {}) });
  return out;
}

type RawEnter = Extract<RawBody, { type: 'ioctlEnter' }>;

function argValue(arg: bigint): number | bigint {
  return arg <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(arg) : arg;
}

/** The events of one process's log. */
function logEvents(buf: Buffer, log: RawLog, rootPid: number, abi: Abi, file: string): Pending[] {
  const pid = log.header.pid;
  const out: Pending[] = [];
  /** Entries waiting for their exit record; what is left at the end never returned. */
  const enters = new Map<number, { record: RawRecord; body: RawEnter }>();
  let last = 0;
  for (const r of rawRecords(buf, log)) {
    const b = r.body;
    last = Math.max(last, r.seq);
    const at = (body: Body<TraceEvent>, eventPid = pid) => out.push({ order: r.seq, pid: eventPid, owner: pid, tid: r.tid, time: r.time, body });
    switch (b.type) {
      case 'ioctlEnter':
        enters.set(r.offset, { record: r, body: b });
        break;
      case 'ioctlExit': {
        const e = enters.get(b.enterOffset);
        if (!e) {
          at({ type: 'note', message: `${file}: ioctl exit record without its entry (offset ${b.enterOffset})` });
          break;
        }
        enters.delete(b.enterOffset);
        const body: Body<IoctlEvent> = {
          type: 'ioctl', fd: e.body.fd, request: e.body.request, arg: argValue(e.body.arg), ret: b.ret, errno: b.errno,
          dt: Number(r.time - e.record.time), regions: mergeRegions(e.body.regions, b.regions),
        };
        out.push({ order: r.seq, pid, owner: pid, tid: r.tid, time: e.record.time, body });
        break;
      }
      case 'open':
        at({ type: 'open', path: b.path, flags: b.flags, fd: b.fd, errno: b.errno });
        break;
      case 'close':
        at({ type: 'close', fd: b.fd, ret: b.ret, errno: b.errno });
        break;
      case 'dup':
        at({ type: 'dup', oldfd: b.oldfd, newfd: b.newfd });
        break;
      case 'mmap':
        at({ type: 'mmap', fd: b.fd, addr: b.addr, length: b.length, prot: b.prot, flags: b.flags, offset: b.mapOffset });
        break;
      case 'munmap':
        at({ type: 'munmap', addr: b.addr, length: b.length });
        break;
      case 'memory':
        at({ type: 'memory', why: b.why, addr: b.addr, data: b.data });
        break;
      case 'fork':
        at({ type: 'fork', child: b.child });
        break;
      case 'exec':
        at({ type: 'exec', argv: b.argv }, b.pid);
        break;
      case 'exit':
        // The target's own exit comes from its wait status, which also knows about signals.
        if (pid !== rootPid) at({ type: 'exit', status: b.status });
        break;
      case 'note':
        at({ type: 'note', message: b.message });
        break;
    }
  }
  const remark = (message: string) => out.push({ order: last + 0.5, pid, owner: pid, tid: pid, body: { type: 'note', message } });
  for (const { record, body } of enters.values()) {
    remark(`ioctl 0x${body.request.toString(16)} on fd ${body.fd} (tid ${record.tid}) had not returned when the process ended`);
  }
  if (log.uncommitted) remark(`${file}: ${log.uncommitted} record(s) were being written when the process ended and are lost`);
  if (log.header.dropped) remark(`${file}: ${log.header.dropped} record(s) dropped: the raw log could not grow`);
  if (log.header.abi !== abi) remark(`process ${pid} is ${log.header.abi}: decode its regions with ${log.header.abi} layouts, not the trace's ${abi}`);
  if (log.damage) remark(`${file}: raw log damaged (${log.damage}); the ${log.count} complete records before it are kept`);
  return out;
}

/**
 * Fork events for processes started without the shim's fork(): vfork, posix_spawn, clone. The
 * parent is the ppid the child's shim noted, or else the process whose log holds the child's first
 * event (a vfork child writes its exec into its parent's log); the fork goes just before that event.
 */
function unseenForks(pending: Pending[], ppids: Map<number, number>, rootPid: number): Pending[] {
  const forked = new Set<number>([rootPid]);
  const first = new Map<number, Pending>();
  for (const p of pending) {
    if (p.body.type === 'fork') forked.add(p.body.child);
    const seen = first.get(p.pid);
    if (!seen || p.order < seen.order) first.set(p.pid, p);
  }
  const out: Pending[] = [];
  for (const [pid, p] of first) {
    const parent = ppids.get(pid) ?? (p.owner !== pid ? p.owner : undefined);
    if (forked.has(pid) || parent === undefined) continue;
    out.push({ order: p.order - 0.5, pid: parent, owner: parent, tid: parent, body: { type: 'fork', child: pid } });
  }
  return out;
}

export interface Ingested {
  events: TraceEvent[];
  /** True when some process ran under valgrind (its regions carry definedness). */
  valgrind: boolean;
  /** Records the shims dropped because a raw log could not grow. */
  dropped: number;
}

/** Reads every raw log in `rawDir` and returns the trace's events in order. */
export function ingest(input: IngestInput): Ingested {
  const files = readdirSync(input.rawDir).filter((f) => /^raw-\d+-\d+\.log$/.test(f)).sort();
  const pending: Pending[] = [];
  const ppids = new Map<number, number>();
  let valgrind = false;
  let dropped = 0;
  for (const file of files) {
    let log: RawLog;
    const buf = readFileSync(join(input.rawDir, file));
    try {
      log = openRawLog(buf);
    } catch (e) {
      pending.push({ order: Number.MAX_SAFE_INTEGER, pid: 0, owner: 0, tid: 0, body: { type: 'note', message: `${file}: unreadable raw log: ${(e as Error).message}` } });
      continue;
    }
    valgrind ||= log.header.valgrind;
    dropped += log.header.dropped;
    const events = logEvents(buf, log, input.root.pid, input.abi, file);
    for (const e of events) pending.push(e); // not push(...events): logs can be huge
    if (events.length > 0) ppids.set(log.header.pid, log.header.ppid);
  }
  for (const e of unseenForks(pending, ppids, input.root.pid)) pending.push(e);
  const { pid, status, signal } = input.root;
  pending.push({ order: Number.MAX_SAFE_INTEGER, pid, owner: pid, tid: pid, body: { type: 'exit', status, ...(signal !== undefined ? { signal } : {}) } });
  pending.sort((a, b) => a.order - b.order);
  const events = pending.map((p, seq) => {
    const t = p.time !== undefined && p.time >= input.t0 ? { t: Number(p.time - input.t0) } : {};
    return { seq, pid: p.pid, tid: p.tid, ...t, ...p.body } as TraceEvent;
  });
  return { events, valgrind, dropped };
}
