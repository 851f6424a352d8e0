// Recording a guest in-process on either back-end, and editing a trace, for the replay tests.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RecordingDriver } from '../../recorder/inprocess.js';
import type { TraceEvent } from '../../traces/events.js';
import { TraceReader } from '../../traces/reader.js';
import { TraceWriter } from '../../traces/writer.js';
import type { Driver } from '../../vmx/driver.js';
import type { GuestMode } from '../../vmx/monitor/choices.js';
import { runGuest } from '../../vmx/monitor/monitor.js';

export function tempTrace(name = 'trace.bin'): string {
  return join(mkdtempSync(join(tmpdir(), 'ioctlgrind-replay-')), name);
}

/** Runs `image` with the bundled monitor on `driver`, recording in-process; returns the trace. */
export function recordGuest(driver: Driver, image: Uint8Array, mode: GuestMode): string {
  const path = tempTrace();
  const recorder = new RecordingDriver(driver, { output: path, command: ['test-monitor', mode] });
  const run = runGuest(recorder, image, { mode });
  recorder.finish(run.exitCode ?? 0);
  return path;
}

/** A copy of a trace with some events changed. */
export function editTrace(path: string, edit: (e: TraceEvent) => TraceEvent): string {
  const reader = TraceReader.open(path);
  const out = tempTrace('edited.bin');
  const w = TraceWriter.create(out, reader.header);
  for (const e of reader) w.write(edit(e));
  w.close();
  return out;
}

export function readEvents(path: string): TraceEvent[] {
  return [...TraceReader.open(path)];
}
