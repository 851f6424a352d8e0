// Builds the SQLite index of a trace: one row per event, object, region, exit and guest-memory
// write, so that questions about a long trace are SQL queries. The tables are documented in
// docs/trace-format.md. The index is built in a temporary file and renamed into place, so a
// crashed build never leaves a half index behind.

import fs from 'node:fs';
import Database from 'better-sqlite3';
import type { Abi } from '../schemas/model.js';
import type { SchemaRegistry } from '../schemas/registry.js';
import { runExit, summarizeIoctl } from './decode.js';
import type { TraceEvent } from './events.js';
import { ObjectGraph, type EventContext } from './objects.js';
import { TraceReader, type Truncation } from './reader.js';

const SCHEMA = `
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE events (
  seq INTEGER NOT NULL, type TEXT NOT NULL, pid INTEGER NOT NULL, tid INTEGER NOT NULL, t INTEGER,
  fd INTEGER, object TEXT, request INTEGER, name TEXT, dir TEXT, size INTEGER,
  ret INTEGER, errno INTEGER, offset INTEGER NOT NULL
);
CREATE TABLE objects (
  id INTEGER PRIMARY KEY, path TEXT NOT NULL, kind TEXT NOT NULL, device TEXT, family TEXT,
  pid INTEGER NOT NULL, created_seq INTEGER, closed_seq INTEGER, reason TEXT
);
CREATE TABLE regions (seq INTEGER NOT NULL, role TEXT NOT NULL, addr INTEGER NOT NULL, length INTEGER NOT NULL, dir TEXT NOT NULL, problem TEXT);
CREATE TABLE exits (seq INTEGER NOT NULL, object TEXT, reason TEXT, reason_value INTEGER NOT NULL);
CREATE TABLE memory (seq INTEGER NOT NULL, addr INTEGER NOT NULL, length INTEGER NOT NULL, why TEXT NOT NULL);
`;

// Built after the rows are in: cheaper than keeping them up to date on every insert.
const INDEXES = `
CREATE INDEX events_seq ON events (seq);
CREATE INDEX events_name ON events (name);
CREATE INDEX events_object ON events (object);
CREATE INDEX regions_seq ON regions (seq);
CREATE INDEX exits_reason ON exits (reason);
CREATE INDEX memory_addr ON memory (addr);
`;

export interface IndexSummary {
  events: number;
  objects: number;
  truncated: Truncation | null;
}

/** Indexes the trace at `tracePath` into `dbPath` (default: the trace's path plus `.db`), mode 0600. */
export function indexTrace(tracePath: string, registry: SchemaRegistry, dbPath = `${tracePath}.db`): IndexSummary {
  const reader = TraceReader.open(tracePath);
  const temporary = `${dbPath}.${process.pid}.tmp`;
  let db: Database.Database | undefined;
  try {
    // Created by hand first: SQLite would create it under the umask, and a trace holds guest secrets.
    fs.closeSync(fs.openSync(temporary, 'w', 0o600));
    fs.chmodSync(temporary, 0o600);
    db = new Database(temporary);
    // A half-built index is thrown away, not recovered: no journal, no syncs.
    db.pragma('journal_mode = OFF');
    db.pragma('synchronous = OFF');
    db.exec(SCHEMA);
    const summary = db.transaction((into: Database.Database) => fill(into, reader, registry))(db);
    db.exec(INDEXES);
    db.close();
    fs.renameSync(temporary, dbPath);
    return summary;
  } catch (error) {
    reader.close();
    if (db?.open) db.close();
    fs.rmSync(temporary, { force: true });
    throw error;
  }
}

function fill(db: Database.Database, reader: TraceReader, registry: SchemaRegistry): IndexSummary {
  const insert = {
    event: db.prepare(
      `INSERT INTO events (seq, type, pid, tid, t, fd, object, request, name, dir, size, ret, errno, offset)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ),
    region: db.prepare('INSERT INTO regions (seq, role, addr, length, dir, problem) VALUES (?, ?, ?, ?, ?, ?)'),
    exit: db.prepare('INSERT INTO exits (seq, object, reason, reason_value) VALUES (?, ?, ?, ?)'),
    memory: db.prepare('INSERT INTO memory (seq, addr, length, why) VALUES (?, ?, ?, ?)'),
    object: db.prepare(
      `INSERT INTO objects (id, path, kind, device, family, pid, created_seq, closed_seq, reason)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ),
    meta: db.prepare('INSERT INTO meta (key, value) VALUES (?, ?)'),
  };
  const abi = reader.header.abi;
  const graph = new ObjectGraph(registry, abi);
  let events = 0;
  for (const event of reader) {
    const context = graph.apply(event);
    insert.event.run(eventRow(event, context, reader.offset, abi));
    if (event.type === 'ioctl') {
      for (const r of event.regions) insert.region.run(event.seq, r.role, r.addr, r.length, r.dir, r.problem ?? null);
      const exit = runExit(event, context, abi);
      if (exit) insert.exit.run(event.seq, context.object?.path ?? null, exit.reason, exit.reasonValue);
    } else if (event.type === 'memory') {
      insert.memory.run(event.seq, event.addr, event.data.length, event.why);
    }
    events++;
  }
  for (const o of graph.objects) {
    insert.object.run(o.id, o.path, o.kind, o.deviceType ?? null, o.family, o.pid, o.createdSeq, o.closedSeq, o.reason ?? null);
  }
  insert.meta.run('header', JSON.stringify(reader.header));
  insert.meta.run('truncated', reader.truncated ? JSON.stringify(reader.truncated) : null);
  return { events, objects: graph.objects.length, truncated: reader.truncated };
}

type Row = (string | number | null)[];

function eventRow(event: TraceEvent, context: EventContext, offset: number, abi: Abi): Row {
  const object = context.object?.path ?? context.created?.path ?? null;
  const base = [event.seq, event.type, event.pid, event.tid, event.t ?? null];
  switch (event.type) {
    case 'ioctl': {
      const s = summarizeIoctl(event, context, abi);
      return [...base, event.fd, object, event.request, s.name, s.dir, s.size, event.ret, event.errno, offset];
    }
    case 'open':
      return [...base, event.fd, object, null, null, null, null, event.fd, event.errno, offset];
    case 'close':
      return [...base, event.fd, object, null, null, null, null, event.ret, event.errno, offset];
    case 'dup':
      return [...base, event.oldfd, object, null, null, null, null, event.newfd, 0, offset];
    case 'mmap':
      return [...base, event.fd, object, null, null, null, null, null, null, offset];
    default:
      return [...base, null, null, null, null, null, null, null, null, offset];
  }
}
