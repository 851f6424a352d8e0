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
  /** Arrival, to keep equal orders first-in first-out. */
  n: number;
  /** The process whose raw log held it (a vfork child's exec is in its parent's log). */
  owner: number;
  /** Complete but for its seq, set when it is emitted. */
  event: TraceEvent;
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
  /**
   * Exit regions later entries may name (REG_KEPT), by address: the latest two exit records'
   * (the shim names the latest, or with two threads racing on one vCPU the one before).
   */
  kept: Map<number, { offset: number; data: Uint8Array; before?: { offset: number; data: Uint8Array } }>;
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

/** A min-heap of pending events by order, first-in first-out among equal orders. */
class PendingQueue {
  private readonly items: Pending[] = [];

  get size(): number {
    return this.items.length;
  }

  peek(): Pending | undefined {
    return this.items[0];
  }

  push(item: Pending): void {
    const items = this.items;
    let i = items.push(item) - 1;
    while (i > 0) {
      const up = (i - 1) >> 1;
      if (!before(item, items[up])) break;
      items[i] = items[up];
      i = up;
    }
    items[i] = item;
  }

  pop(): Pending | undefined {
    const items = this.items;
    const top = items[0];
    const last = items.pop();
    if (top === undefined || last === undefined || items.length === 0) return top;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= items.length) break;
      const c = l + 1 < items.length && before(items[l + 1], items[l]) ? l + 1 : l;
      if (!before(items[c], last)) break;
      items[i] = items[c];
      i = c;
    }
    items[i] = last;
    return top;
  }
}

const before = (a: Pending, b: Pending) => a.order < b.order || (a.order === b.order && a.n < b.n);

/** Follows every raw log of a recording and emits the trace's events in order. */
export class Ingester {
  /** Events emitted so far. */
  emitted = 0;
  /** Records the shims dropped because a raw log could not grow (known once finish() has run). */
  dropped = 0;
  /** The raw logs' records and the file they took, in bytes, all processes together (known once finish() has run). */
  recordBytes = 0;
  rawBytes = 0;
  /** Events made so far (their arrival order). */
  private made = 0;
  private readonly logs = new Map<string, Followed>();
  private readonly queue = new PendingQueue();
  /** The smallest sequence number not seen yet, and the larger ones seen out of turn. */
  private nextSeq = 1;
  private readonly seenAhead = new Set<number>();
  /** Processes whose fork is in the trace (or that need none). */
  private readonly known: Set<number>;
  private readonly ppids = new Map<number, number>();

  /** options.t0 as a double, like the records' times. */
  private readonly t0: number;

  constructor(private readonly options: IngestOptions) {
    this.known = new Set([options.rootPid]);
    this.t0 = Number(options.t0);
  }

  /**
   * Reads what the shims committed since the last call, for at most about `budgetMs`. True when
   * it has caught up with them: the caller should then wait a little rather than poll again at
   * once, because reading records the moment they are committed pulls the lines the shim is
   * writing (and the log's cursor) back and forth between the two cores.
   */
  poll(budgetMs = 20): boolean {
    const until = performance.now() + budgetMs;
    this.discover(false);
    do if (!this.round(false)) return true;
    while (performance.now() < until);
    return false;
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
    this.emit(this.pending(Number.POSITIVE_INFINITY, pid, pid, pid, undefined, { type: 'exit', status, ...(signal !== undefined ? { signal } : {}) }));
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
        f = { file, source: this.options.live ? mapLog(path) : wholeFile(readFileSync(path)), enters: new Map(), last: 0, kept: new Map() };
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
        this.queue.push(this.pending(Number.MAX_SAFE_INTEGER, 0, 0, 0, undefined, { type: 'note', message: `${file}: unreadable raw log: ${(e as Error).message}` }));
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
    const at = (body: Body<TraceEvent>, eventPid = pid) => this.queue.push(this.pending(r.seq, pid, eventPid, r.tid, r.time, body));
    switch (b.type) {
      case 'ioctlEnter':
        this.fillSame(f, b.regions);
        f.enters.set(r.offset, { record: r, body: b });
        break;
      case 'ioctlExit': {
        const e = f.enters.get(b.enterOffset);
        if (!e) {
          at({ type: 'note', message: `${f.file}: ioctl exit record without its entry (offset ${b.enterOffset})` });
          break;
        }
        f.enters.delete(b.enterOffset);
        this.fillSame(f, b.regions);
        this.keep(f, r.offset, b.regions);
        // The hot path, an event per exit: made whole in one literal (pending()'s Object.assign costs
        // about 0.1 us more an event).
        const t = e.record.time - this.t0;
        const event: IoctlEvent = {
          seq: 0, pid, tid: r.tid, ...(t >= 0 ? { t } : {}), type: 'ioctl', fd: e.body.fd, request: e.body.request, arg: e.body.arg,
          ret: b.ret, errno: b.errno, dt: r.time - e.record.time, regions: mergeRegions(e.body.regions, b.regions),
        };
        this.queue.push({ order: r.seq, n: this.made++, owner: pid, event });
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

  /** Remembers an exit record's kept regions (views: each vCPU holds at most two spans' copies). */
  private keep(f: Followed, offset: number, regions: RawRegion[]): void {
    for (const region of regions) {
      if (!region.kept) continue;
      const last = f.kept.get(region.addr);
      if (!last) f.kept.set(region.addr, { offset, data: region.data });
      else {
        last.before = { offset: last.offset, data: last.data };
        last.offset = offset;
        last.data = region.data;
      }
    }
  }

  /** Regions that name an earlier exit region's bytes instead of carrying them get those bytes. */
  private fillSame(f: Followed, regions: RawRegion[]): void {
    for (const region of regions) {
      if (region.sameAs === undefined) continue;
      const kept = f.kept.get(region.addr);
      const data = [kept, kept?.before].find((k) => k?.offset === region.sameAs)?.data;
      if (data && data.length === region.length) region.data = data;
      else region.problem ??= 'its bytes were to come from an earlier exit record that is not in the log';
    }
  }

  /** A note from the recorder itself, placed before the target's first event. */
  note(message: string): void {
    const root = this.options.rootPid;
    this.queue.push(this.pending(0.5, root, root, root, undefined, { type: 'note', message }));
  }

  /** What the recorder has to say about a log once its process is gone. */
  private remarks(f: Followed, log: RawLog): void {
    const pid = log.header.pid;
    const remark = (message: string) => this.queue.push(this.pending(f.last + 0.5, pid, pid, pid, undefined, { type: 'note', message }));
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

  /** An event waiting for its turn; `time` is CLOCK_MONOTONIC ns (undefined: no time). */
  private pending(order: number, owner: number, pid: number, tid: number, time: number | undefined, body: Body<TraceEvent>): Pending {
    const event = { seq: 0, pid, tid } as TraceEvent;
    if (time !== undefined && time >= this.t0) event.t = time - this.t0;
    return { order, n: this.made++, owner, event: Object.assign(event, body) };
  }

  /**
   * Gives an event its seq. A process whose fork the shim did not see (vfork, posix_spawn, clone)
   * gets one just before its first event: from the ppid its shim noted, or else from the process
   * whose log holds that event (a vfork child writes its exec into its parent's log).
   */
  private emit(p: Pending): void {
    const { event } = p;
    if (!this.known.has(event.pid)) {
      this.known.add(event.pid);
      const parent = this.ppids.get(event.pid) ?? (p.owner !== event.pid ? p.owner : undefined);
      if (parent !== undefined) this.emit(this.pending(p.order, parent, parent, parent, undefined, { type: 'fork', child: event.pid }));
    }
    if (event.type === 'fork') this.known.add(event.child);
    event.seq = this.emitted++;
    this.options.sink(event);
  }
}

/** Reads every raw log in `rawDir` after the fact and returns the trace's events in order. */
export function ingest(options: Omit<IngestOptions, 'sink' | 'live' | 'rootPid'> & { root: TargetExit }): { events: TraceEvent[]; dropped: number } {
  const events: TraceEvent[] = [];
  const ingester = new Ingester({ ...options, rootPid: options.root.pid, live: false, sink: (e) => events.push(e) });
  ingester.finish(options.root);
  return { events, dropped: ingester.dropped };
}
