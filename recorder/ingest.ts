// Turns the shim's per-process raw logs into trace events while the target runs: ioctl entry and
// exit records joined, regions merged (bytes before, after, memcheck definedness), everything put
// in the order of the global sequence number and renumbered, the recorder's own remarks added as
// notes. An event is emitted once every smaller sequence number has been seen, so what is held in
// memory is what happened while some record was still being written, not the whole recording.

import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Abi } from '../schemas/model.js';
import type { IoctlEvent, Region, TraceEvent } from '../traces/events.js';
import { mapLog } from './mapped-log.js';
import { RAW_CHUNK, RawLog, wholeFile, type ChunkSource, type RawBody, type RawRecord, type RawRegion } from './rawlog.js';
import type { TargetExit } from './spawn.js';

type Body<E> = E extends TraceEvent ? Omit<E, 'seq' | 'pid' | 'tid' | 't'> : never;

/** An event before renumbering: `order` is the raw sequence number (fractions for remarks). */
interface Pending {
  order: number;
  pid: number;
  /** The process whose raw log held it (a vfork child's exec is in its parent's log). */
  owner: number;
  tid: number;
  time?: bigint;
  body: Body<TraceEvent>;
}

type RawEnter = Extract<RawBody, { type: 'ioctlEnter' }>;

/** One raw log being followed. */
interface Followed {
  file: string;
  source: ChunkSource & { close?(): void };
  /** Undefined until the shim has written the log's header. */
  log?: RawLog;
  /** Entries waiting for their exit record; what is left at the end never returned. */
  enters: Map<number, { record: RawRecord; body: RawEnter }>;
  /** The largest sequence number in the log. */
  last: number;
}

export interface IngestOptions {
  rawDir: string;
  /** CLOCK_MONOTONIC ns when the recording started; event times are relative to it. */
  t0: bigint;
  /** The trace header's data model (the target's). */
  abi: Abi;
  /** The target process: its exit event comes from its wait status, not from the shim. */
  rootPid: number;
  /** Receives the events in their final order, seq already assigned. */
  sink: (event: TraceEvent) => void;
  /** Follow the logs through shared mappings while they are written (else read each file whole at the end). */
  live: boolean;
  /** Events held back for ordering before the oldest are written regardless (default 50,000). */
  maxHeld?: number;
}

const LOG_NAME = /^raw-(\d+)-(\d+)\.log$/;
/** Records taken from one log before the next log's turn. */
const ROUND = 1024;
/** Events held back for ordering before the oldest are written regardless. */
const MAX_HELD = 50_000;

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

function argValue(arg: bigint): number | bigint {
  return arg <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(arg) : arg;
}

/** A min-heap of pending events by order, first-in first-out among equal orders. */
class PendingQueue {
  private items: { p: Pending; n: number }[] = [];
  private added = 0;

  get size(): number {
    return this.items.length;
  }

  peek(): Pending | undefined {
    return this.items[0]?.p;
  }

  push(p: Pending): void {
    const items = this.items;
    const item = { p, n: this.added++ };
    let i = items.push(item) - 1;
    while (i > 0) {
      const up = (i - 1) >> 1;
      if (!this.before(item, items[up])) break;
      items[i] = items[up];
      i = up;
    }
    items[i] = item;
  }

  pop(): Pending | undefined {
    const items = this.items;
    const top = items[0];
    const last = items.pop();
    if (top === undefined || last === undefined || items.length === 0) return top?.p;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= items.length) break;
      const c = l + 1 < items.length && this.before(items[l + 1], items[l]) ? l + 1 : l;
      if (!this.before(items[c], last)) break;
      items[i] = items[c];
      i = c;
    }
    items[i] = last;
    return top.p;
  }

  private before(a: { p: Pending; n: number }, b: { p: Pending; n: number }): boolean {
    return a.p.order < b.p.order || (a.p.order === b.p.order && a.n < b.n);
  }
}

/** Follows every raw log of a recording and emits the trace's events in order. */
export class Ingester {
  /** Events emitted so far. */
  emitted = 0;
  private readonly logs = new Map<string, Followed>();
  private readonly queue = new PendingQueue();
  /** The smallest sequence number not seen yet, and the larger ones seen out of turn. */
  private nextSeq = 1;
  private readonly seenAhead = new Set<number>();
  /** Processes whose fork is in the trace (or that need none). */
  private readonly known: Set<number>;
  private readonly ppids = new Map<number, number>();

  constructor(private readonly options: IngestOptions) {
    this.known = new Set([options.rootPid]);
  }

  /** Records the shims dropped because a raw log could not grow (known once finish() has run). */
  dropped = 0;
  /** The raw logs' records and the file they took, in bytes, all processes together (known once finish() has run). */
  recordBytes = 0;
  rawBytes = 0;

  /** Reads what the shims committed since the last call, for about `budgetMs`; false if nothing was new. */
  poll(budgetMs = 20): boolean {
    const until = performance.now() + budgetMs;
    this.discover(false);
    let progress = false;
    while (this.round(false) && performance.now() < until) progress = true;
    return progress;
  }

  /** The target has ended: read the rest, add the remarks, emit everything and the target's exit. */
  finish(root: TargetExit): void {
    this.discover(true);
    while (this.round(true));
    for (const f of this.logs.values()) {
      if (f.log) {
        this.remarks(f, f.log);
        this.dropped += f.log.dropped;
        this.rawBytes += f.log.fileBytes;
        this.recordBytes += f.log.recordBytes;
      }
      f.log = undefined; // its views of the mapping go with it
      f.source.close?.();
    }
    this.nextSeq = Number.POSITIVE_INFINITY;
    this.emitReady();
    const { pid, status, signal } = root;
    this.emit({ order: Number.POSITIVE_INFINITY, pid, owner: pid, tid: pid, body: { type: 'exit', status, ...(signal !== undefined ? { signal } : {}) } });
  }

  /**
   * Up to ROUND records from each log in turn, then what can be emitted: taking the logs in turn
   * keeps the events held back for ordering to what one round brings. False if nothing was new.
   */
  private round(final: boolean): boolean {
    let progress = false;
    for (const f of this.logs.values()) {
      if (!f.log) continue;
      let n = 0;
      for (const r of f.log.records(final)) {
        this.take(f, r);
        progress = true;
        if (++n === ROUND) break;
      }
    }
    this.emitReady();
    return progress;
  }

  /** Finds logs not followed yet; `final`: the writers are gone, so a log without a header is damaged. */
  private discover(final: boolean): void {
    const { rawDir } = this.options;
    for (const file of readdirSync(rawDir)) {
      const name = LOG_NAME.exec(file);
      if (!name) continue;
      let f = this.logs.get(file);
      if (!f) {
        this.seen(Number(name[2])); // the shim took a number to name the log
        const path = join(rawDir, file);
        f = { file, source: this.options.live ? mapLog(path) : wholeFile(readFileSync(path)), enters: new Map(), last: 0 };
        this.logs.set(file, f);
      }
      if (f.log) continue;
      const first = f.source.chunk(0);
      // The shim stores the cursor last when it creates a log: until then the header is not whole.
      if (!final && (first.length < RAW_CHUNK || first.readBigUInt64LE(32) === 0n)) continue;
      try {
        f.log = new RawLog(f.source);
        this.ppids.set(f.log.header.pid, f.log.header.ppid);
      } catch (e) {
        this.queue.push({ order: Number.MAX_SAFE_INTEGER, pid: 0, owner: 0, tid: 0, body: { type: 'note', message: `${file}: unreadable raw log: ${(e as Error).message}` } });
        f.source.close?.();
        f.source = wholeFile(Buffer.alloc(0));
      }
    }
  }

  private seen(seq: number): void {
    if (seq < this.nextSeq) return;
    if (seq !== this.nextSeq) {
      this.seenAhead.add(seq);
      return;
    }
    this.nextSeq++;
    while (this.seenAhead.delete(this.nextSeq)) this.nextSeq++;
  }

  /** One record of a log: an event, or half of one. */
  private take(f: Followed, r: RawRecord): void {
    const log = f.log as RawLog;
    const pid = log.header.pid;
    const b = r.body;
    this.seen(r.seq);
    if (r.seq > f.last) f.last = r.seq;
    const at = (body: Body<TraceEvent>, eventPid = pid) => this.queue.push({ order: r.seq, pid: eventPid, owner: pid, tid: r.tid, time: r.time, body });
    switch (b.type) {
      case 'ioctlEnter':
        f.enters.set(r.offset, { record: r, body: b });
        break;
      case 'ioctlExit': {
        const e = f.enters.get(b.enterOffset);
        if (!e) {
          at({ type: 'note', message: `${f.file}: ioctl exit record without its entry (offset ${b.enterOffset})` });
          break;
        }
        f.enters.delete(b.enterOffset);
        const body: Body<IoctlEvent> = {
          type: 'ioctl', fd: e.body.fd, request: e.body.request, arg: argValue(e.body.arg), ret: b.ret, errno: b.errno,
          dt: Number(r.time - e.record.time), regions: mergeRegions(e.body.regions, b.regions),
        };
        this.queue.push({ order: r.seq, pid, owner: pid, tid: r.tid, time: e.record.time, body });
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
        if (pid !== this.options.rootPid) at({ type: 'exit', status: b.status });
        break;
      case 'note':
        at({ type: 'note', message: b.message });
        break;
    }
  }

  /** What the recorder has to say about a log once its process is gone. */
  private remarks(f: Followed, log: RawLog): void {
    const pid = log.header.pid;
    const remark = (message: string) => this.queue.push({ order: f.last + 0.5, pid, owner: pid, tid: pid, body: { type: 'note', message } });
    for (const { record, body } of f.enters.values()) {
      remark(`ioctl 0x${body.request.toString(16)} on fd ${body.fd} (tid ${record.tid}) had not returned when the process ended`);
    }
    if (log.uncommitted) remark(`${f.file}: ${log.uncommitted} record(s) were being written when the process ended and are lost`);
    if (log.dropped) remark(`${f.file}: ${log.dropped} record(s) dropped: the raw log could not grow`);
    if (log.header.abi !== this.options.abi) remark(`process ${pid} is ${log.header.abi}: decode its regions with ${log.header.abi} layouts, not the trace's ${this.options.abi}`);
    if (log.damage) remark(`${f.file}: raw log damaged (${log.damage}); the ${log.count} complete records before it are kept`);
  }

  private emitReady(): void {
    for (let p = this.queue.peek(); p !== undefined && p.order < this.nextSeq; p = this.queue.peek()) this.emit(this.queue.pop() as Pending);
    // A number that never gets its record (a process killed between taking it and committing)
    // would hold back everything after it: past maxHeld events, the oldest go out anyway.
    while (this.queue.size > (this.options.maxHeld ?? MAX_HELD)) this.emit(this.queue.pop() as Pending);
  }

  /**
   * Gives an event its seq. A process whose fork the shim did not see (vfork, posix_spawn, clone)
   * gets one just before its first event: from the ppid its shim noted, or else from the process
   * whose log holds that event (a vfork child writes its exec into its parent's log).
   */
  private emit(p: Pending): void {
    if (!this.known.has(p.pid)) {
      this.known.add(p.pid);
      const parent = this.ppids.get(p.pid) ?? (p.owner !== p.pid ? p.owner : undefined);
      if (parent !== undefined) this.emit({ order: p.order, pid: parent, owner: parent, tid: parent, body: { type: 'fork', child: p.pid } });
    }
    if (p.body.type === 'fork') this.known.add(p.body.child);
    const { t0 } = this.options;
    const event = { seq: this.emitted++, pid: p.pid, tid: p.tid } as TraceEvent;
    if (p.time !== undefined && p.time >= t0) event.t = Number(p.time - t0);
    this.options.sink(Object.assign(event, p.body));
  }
}

/** Reads every raw log in `rawDir` after the fact and returns the trace's events in order. */
export function ingest(options: Omit<IngestOptions, 'sink' | 'live' | 'rootPid'> & { root: TargetExit }): { events: TraceEvent[]; dropped: number } {
  const events: TraceEvent[] = [];
  const ingester = new Ingester({ ...options, rootPid: options.root.pid, live: false, sink: (e) => events.push(e) });
  ingester.finish(options.root);
  return { events, dropped: ingester.dropped };
}
