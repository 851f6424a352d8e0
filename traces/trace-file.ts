// Creating a trace file: kept apart from the writer so that record can claim its output before it
// loads the codec.

import fs from 'node:fs';

/**
 * Opens `path` for a new trace, mode 0600 (traces hold guest memory). An existing regular file is
 * replaced, not truncated: ext4 writes back a file truncated to zero when it is closed
 * (auto_da_alloc), which held up the end of a recording by 0.25 s per 800 MB of trace. A device or
 * a FIFO (`-o /dev/stdout`) is opened as it is, and its mode left alone.
 */
export function openTraceFile(path: string): number {
  try {
    if (fs.lstatSync(path).isFile()) fs.unlinkSync(path);
  } catch {
    // no such file, or one we may write but not remove: the open truncates it, or says why not
  }
  const fd = fs.openSync(path, 'w', 0o600);
  try {
    // The open mode does not apply to a file another process created meanwhile, and the umask masks it.
    if (fs.fstatSync(fd).isFile()) fs.fchmodSync(fd, 0o600);
  } catch (error) {
    fs.closeSync(fd);
    throw error;
  }
  return fd;
}
