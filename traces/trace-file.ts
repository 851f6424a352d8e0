// Creating a trace file: kept apart from the writer so that record can claim its output before it
// loads the codec.

import fs from 'node:fs';

/**
 * Opens `path` for a new trace, mode 0600 (traces hold guest memory). An existing regular file is
 * replaced, not truncated: ext4 writes back a file truncated to zero when it is closed
 * (auto_da_alloc), which held up the end of a recording by 0.25 s per 800 MB of trace. The new
 * file is created exclusively, following no link, so nothing planted at `path` meanwhile is
 * written through. A file that may be written but not removed is truncated as before; a device, a
 * FIFO or a symlink (`-o /dev/stdout`) is opened as it is, a device's or FIFO's mode left alone.
 */
export function openTraceFile(path: string): number {
  let create = true;
  try {
    if (fs.lstatSync(path).isFile()) fs.unlinkSync(path);
    else create = false;
  } catch (error) {
    // ENOENT: nothing there to replace; otherwise the open below truncates it, or says why not
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') create = false;
  }
  const { O_WRONLY, O_CREAT, O_EXCL, O_NOFOLLOW } = fs.constants;
  const fd = fs.openSync(path, create ? O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW : 'w', 0o600);
  try {
    // The open mode does not apply to a file opened as it was, and the umask masks it.
    if (fs.fstatSync(fd).isFile()) fs.fchmodSync(fd, 0o600);
  } catch (error) {
    fs.closeSync(fd);
    throw error;
  }
  return fd;
}
