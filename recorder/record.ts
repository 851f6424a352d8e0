// `ioctlgrind record`: prepare a private directory for the shim (sequence counter, rule tables),
// run the target under it, and ingest what it writes into a trace while it runs. The target starts
// as early as it can: the schemas, the trace writer and ingest are loaded while it starts. From
// bin/ioctlgrind it starts earlier still: the launcher (recorder/launcher/launch.c) starts it before
// Node, and Node follows it here through recordAttached().

import { accessSync, closeSync, constants as fsConstants, mkdtempSync, readFile, rmSync, writeFileSync } from 'node:fs';
import { setTimeout as delay } from 'node:timers/promises';
import { arch, hostname, release, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Abi } from '../schemas/model.js';
import { toolVersion } from '../schemas/paths.js';
import type { TraceHeader } from '../traces/events.js';
import type { TraceWriter } from '../traces/writer.js';
import { openTraceFile } from '../traces/trace-file.js';
import { addonUnavailable } from '../vmx/host/driver.js';
import { defaultRuleCache, keepRuleTables, keptRuleTables, sameRuleTables, SHIM_ABIS, type RuleTables } from './rule-cache.js';
import { RecordError, elfAbi, requireKvm, resolveCommand, runTarget, type TargetExit } from './spawn.js';

export interface RecordOptions {
  command: string[];
  output: string;
  memcheck: boolean;
  /** Schema set the rule tables come from. */
  schemaSet?: string;
  /** Where the rule tables are kept between recordings (default build/rules); null: built each time. */
  ruleCache?: string | null;
}

export interface RecordResult {
  exit: TargetExit;
  events: number;
  /** Records the shims could not write (their raw log could not grow); the trace has a note each. */
  dropped: number;
  /** Bytes of records the shims wrote, and the raw logs' size (RAM on tmpfs): chunks are reused once ingested. */
  recordBytes: number;
  rawBytes: number;
  /** Nanoseconds spent running the target, and ingesting its raw logs into the trace after it ended. */
  targetNs: bigint;
  ingestNs: bigint;
  /** The rule tables kept from an earlier recording differed from the schemas, and this one used them. */
  staleRules: boolean;
}

export const STALE_RULES = "this recording used rule tables kept from an earlier one that differ from this ioctlgrind's schemas, so some regions may be missing or cut; the next recording uses new tables";

/** Writes what the shim reads from its directory; returns the rule table prefix for IOCTLGRIND_RULES. */
export function prepareRawDir(dir: string, tables: RuleTables): string {
  // The counter the shims of every process share: a u64 starting at 1 (0 means "not assigned").
  const seq = Buffer.alloc(4096);
  seq.writeBigUInt64LE(1n);
  writeFileSync(join(dir, 'seq'), seq, { mode: 0o600 });
  const rules = join(dir, 'rules');
  for (const abi of SHIM_ABIS) writeFileSync(`${rules}.${abi}`, tables[abi], { mode: 0o600 });
  return rules;
}

/**
 * Where the raw logs go: $IOCTLGRIND_RAWDIR, else /dev/shm, else the temp dir. On tmpfs the shim's
 * log pages cost the target no page fault each (on ext4 they made the run 6% slower); the logs are
 * held in RAM until ingest, which reads them whole anyway.
 */
function rawParent(): string {
  if (process.env.IOCTLGRIND_RAWDIR) return process.env.IOCTLGRIND_RAWDIR;
  try {
    accessSync('/dev/shm', fsConstants.W_OK);
    return '/dev/shm';
  } catch {
    return tmpdir();
  }
}

const cannotWrite = (e: unknown) => new RecordError(`cannot write the trace: ${(e as Error).message}`);

/** Opens the trace file (its fd), so that an unwritable output fails before the run. */
function claimOutput(path: string): number {
  try {
    return openTraceFile(path);
  } catch (e) {
    throw cannotWrite(e);
  }
}

/** The schema set's stamp for the trace header, and its rule tables. */
type Schemas = { stamp: string; tables: RuleTables };
async function loadSchemas(setId: string): Promise<Schemas> {
  const [{ SchemaRegistry, schemaStamp }, { buildRuleTables }] = await Promise.all([import('../schemas/registry.js'), import('./rules.js')]);
  const set = SchemaRegistry.default().set(setId);
  return { stamp: schemaStamp(set), tables: buildRuleTables(set) };
}

/** What the trace needs, loaded while the target starts: the schemas, ingest and the trace writer on `fd`. */
async function traceFor(options: RecordOptions, fd: number, abi: Abi, setId: string, startedAt: string, early?: Schemas) {
  const [schemas, { TraceWriter }, { Ingester }] = await Promise.all([early ?? loadSchemas(setId), import('../traces/writer.js'), import('./ingest.js')]);
  const header: TraceHeader = {
    format: 'ioctlgrind-trace',
    formatVersion: 1,
    tool: toolVersion(),
    schemaSets: [schemas.stamp],
    host: { hostname: hostname(), kernel: release(), arch: arch() },
    command: options.command,
    abi,
    recorder: 'native',
    exact: false,
    memcheck: options.memcheck,
    startedAt,
  };
  try {
    return { writer: TraceWriter.onFd(options.output, fd, header, { flushBytes: 4 << 20 }), schemas, Ingester };
  } catch (e) {
    throw cannotWrite(e);
  }
}

/** How long ingest waits once it has read everything the shims committed. */
const IDLE_MS = 5;

/** A target bin/ioctlgrind's launcher (recorder/launcher/launch.c) started under the shim. */
export interface Attached {
  pid: number;
  /** A pipe the launcher writes "STATUS SIGNAL" to when the target has ended, then closes. */
  endFd: number;
  /** The trace, opened as openTraceFile does. */
  traceFd: number;
  abi: Abi;
  /** CLOCK_MONOTONIC nanoseconds, and the wall clock in milliseconds, just before the target started. */
  t0: bigint;
  startedMs: number;
  /** The raw directory the launcher prepared (prepareRawDir's layout); removed here when done. */
  rawDir: string;
}

/** A started target, by record() or the launcher: where its raw logs and trace go, and how it ends. */
interface Following {
  pid: number;
  exit: Promise<TargetExit>;
  fd: number;
  rawDir: string;
  abi: Abi;
  t0: bigint;
  startedAt: string;
  /** The rule tables the shim was given when they came from `cache`; checked against the schemas. */
  kept?: RuleTables;
  cache: string | null;
  early?: Schemas;
}

export async function record(options: RecordOptions): Promise<RecordResult> {
  if (options.command.length === 0) throw new RecordError('say which command to record: ioctlgrind record -- CMD ARGS...');
  requireKvm();
  // Checked before the target starts: ingest maps the raw logs while it runs.
  const unmappable = addonUnavailable();
  if (unmappable) throw new RecordError(`cannot follow the raw logs: ${unmappable}`);
  const abi: Abi = elfAbi(resolveCommand(options.command[0]));
  const setId = options.schemaSet ?? 'kvm-linux';
  const cache = options.ruleCache === undefined ? defaultRuleCache() : options.ruleCache;
  const kept = cache === null ? undefined : keptRuleTables(cache, setId);
  // The schemas come first without kept tables (a first recording, or build/ not writable), and
  // when IOCTLGRIND_SCHEMAS adds sets: a mistake in those is said before the target runs.
  const early = kept && !process.env.IOCTLGRIND_SCHEMAS ? undefined : await loadSchemas(setId);
  if (early && cache !== null) keepRuleTables(cache, setId, early.tables);
  const fd = claimOutput(options.output);
  let followed = false; // follow() closes fd
  let rawDir: string | undefined;
  try {
    rawDir = mkdtempSync(join(rawParent(), 'ioctlgrind-raw-')); // mode 0700
    const rules = prepareRawDir(rawDir, kept ?? early!.tables);
    const startedAt = new Date().toISOString();
    const t0 = process.hrtime.bigint(); // CLOCK_MONOTONIC, like the shim's timestamps
    const target = runTarget({ command: options.command, abi, rawDir, rules, memcheck: options.memcheck });
    followed = true;
    return await follow(options, { pid: target.pid, exit: target.exit, fd, rawDir, abi, t0, startedAt, kept, cache, early });
  } finally {
    if (!followed) closeSync(fd);
    if (rawDir) rmSync(rawDir, { recursive: true, force: true });
  }
}

/** record() for a target the launcher started: the same trace, from the launcher's fds and raw logs. */
export async function recordAttached(options: RecordOptions, attached: Attached): Promise<RecordResult> {
  const { pid, endFd, traceFd: fd, rawDir, abi, t0 } = attached;
  try {
    // The launcher's copy of the kept tables, as prepareRawDir names them: what the shim was given.
    const kept = keptRuleTables(rawDir, 'rules');
    const startedAt = new Date(attached.startedMs).toISOString();
    return await follow(options, { pid, exit: endFromLauncher(endFd, pid), fd, rawDir, abi, t0, startedAt, kept, cache: defaultRuleCache() });
  } finally {
    rmSync(rawDir, { recursive: true, force: true });
  }
}

/** How the target ended, as the launcher says it; a launcher gone without saying is an error. */
function endFromLauncher(fd: number, pid: number): Promise<TargetExit> {
  return new Promise((done, fail) =>
    readFile(fd, 'latin1', (error, text) => {
      closeSync(fd);
      const [status, signal] = (text ?? '').trim().split(' ').map(Number);
      if (error || !(status >= 0 && status <= 255 && signal >= 0)) {
        fail(new RecordError("the launcher ended before the target did (it was killed?); the trace holds what was ingested until then"));
      } else done({ pid, status, ...(signal ? { signal } : {}) });
    }),
  );
}

/** Loads the schemas, ingest and the writer while the target runs, and ingests its raw logs into the trace. */
async function follow(options: RecordOptions, target: Following): Promise<RecordResult> {
  const { fd, rawDir, abi, t0, kept, cache } = target;
  const setId = options.schemaSet ?? 'kvm-linux';
  let writer: TraceWriter | undefined; // owns fd once it exists
  try {
    let exit: TargetExit | undefined;
    void target.exit.then((e) => (exit = e), () => {});
    let setup;
    try {
      setup = await traceFor(options, fd, abi, setId, target.startedAt, target.early);
    } catch (error) {
      // The target runs to its end all the same, unrecorded; if it could not start, that is said.
      await target.exit;
      throw error;
    }
    const { schemas, Ingester } = setup;
    const trace = (writer = setup.writer);
    const ingester = new Ingester({ rawDir, t0, abi, rootPid: target.pid, live: true, sink: (e) => trace.write(e) });
    const staleRules = kept !== undefined && !sameRuleTables(kept, schemas.tables);
    if (staleRules) {
      if (cache !== null) keepRuleTables(cache, setId, schemas.tables);
      ingester.note(`${STALE_RULES} (${cache}/${setId}.*)`);
    }
    // Ingest runs beside the target, so that the raw logs' chunks are handed back to the shim and
    // most of the trace is written by the time the target exits.
    // If ingest fails, the target is left to run to its end all the same: then the failure is said.
    let failure: { error: unknown } | undefined;
    while (exit === undefined) {
      let caughtUp = true;
      try {
        if (!failure) caughtUp = ingester.poll();
      } catch (error) {
        failure = { error };
      }
      try {
        await Promise.race([target.exit, delay(caughtUp ? IDLE_MS : 0)]);
      } catch (error) {
        // The target's end cannot be known (its launcher is gone): keep what its logs hold so far.
        try {
          if (!failure) ingester.poll();
        } catch {
          // the launcher's loss is what to say
        }
        throw error;
      }
    }
    if (failure) throw failure.error;
    const t1 = process.hrtime.bigint();
    ingester.finish(exit);
    return {
      exit, events: ingester.emitted, dropped: ingester.dropped, recordBytes: ingester.recordBytes, rawBytes: ingester.rawBytes,
      targetNs: t1 - t0, ingestNs: process.hrtime.bigint() - t1, staleRules,
    };
  } finally {
    if (writer) writer.close();
    else closeSync(fd);
  }
}
