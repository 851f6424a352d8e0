import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TraceReader } from '../traces/reader.js';
import { kvmSampleEvents, writeTrace } from './support/trace-fixtures.js';

let dir: string;
let whole: Buffer;
/** Byte offset where each event's frame starts, and where the file ends. */
let frameStarts: number[];

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'iog-truncated-'));
  const file = path.join(dir, 'whole.trace');
  writeTrace(file);
  whole = fs.readFileSync(file);
  const reader = TraceReader.open(file);
  frameStarts = [];
  for (const _ of reader) frameStarts.push(reader.offset);
  frameStarts.push(whole.length);
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('truncated traces', () => {
  it('keeps every whole frame and names the offset of the cut one, at every cut position', () => {
    const events = kvmSampleEvents();
    const file = path.join(dir, 'cut.trace');
    const headerEnd = frameStarts[0];
    for (let cut = 0; cut < whole.length; cut++) {
      fs.writeFileSync(file, whole.subarray(0, cut));
      if (cut < headerEnd) {
        // Without a whole header there is nothing to read: a one-line error names where it ends.
        expect(() => TraceReader.open(file), `cut at ${cut}`).toThrow(/cut\.trace: truncated at byte \d+: [^\n]+$/);
        continue;
      }
      const reader = TraceReader.open(file);
      const read = [...reader];
      const kept = frameStarts.filter((_, i) => i < events.length && frameStarts[i + 1] <= cut).length;
      expect(read, `cut at ${cut}`).toEqual(events.slice(0, kept));
      if (frameStarts.includes(cut)) {
        expect(reader.truncated, `cut at ${cut}`).toBeNull();
      } else {
        expect(reader.truncated?.offset, `cut at ${cut}`).toBe(frameStarts[kept]);
        expect(reader.truncated?.message).toMatch(/cut after \d+/);
      }
    }
  });
});
