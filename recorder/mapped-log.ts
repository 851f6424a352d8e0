// A raw log the shim is still writing, mapped shared through the kvmhost addon: Atomics on the
// mapping see the shim's commits in order, where a read() of the file could copy a record's type
// after it was committed but its body from before. The reader also writes through it: zeroed
// chunks and the free ring (recorder/shim/rawlog.c).

import { closeSync, fstatSync, openSync } from 'node:fs';
import { loadAddon } from '../vmx/host/driver.js';
import { RAW_CHUNK, type ChunkSource } from './rawlog.js';

const PAGE = 4096;

export interface MappedLog extends ChunkSource {
  /** Unmaps every chunk: buffers from chunk() must not be used after. */
  close(): void;
}

export function mapLog(path: string): MappedLog {
  const addon = loadAddon();
  const fd = openSync(path, 'r+');
  const maps = new Map<number, { addr: number; length: number; buf: Buffer }>();
  return {
    recycles: true,
    chunk(p) {
      const known = maps.get(p);
      if (known && known.buf.length === RAW_CHUNK) return known.buf;
      // Never map past the end of the file: touching such a page would be SIGBUS, not an error.
      const have = Math.min(RAW_CHUNK, fstatSync(fd).size - p * RAW_CHUNK);
      if (have <= 0) return Buffer.alloc(0);
      if (known) {
        if (known.buf.length === have) return known.buf;
        addon.munmap(known.addr, known.length);
      }
      const length = Math.ceil(have / PAGE) * PAGE;
      const addr = addon.mmap(fd, length, p * RAW_CHUNK);
      if (addr < 0) throw new Error(`${path}: cannot map chunk ${p} (errno ${addon.errno()})`);
      const buf = Buffer.from(addon.view(addr, length), 0, have);
      maps.set(p, { addr, length, buf });
      return buf;
    },
    close() {
      for (const { addr, length } of maps.values()) addon.munmap(addr, length);
      maps.clear();
      closeSync(fd);
    },
  };
}
