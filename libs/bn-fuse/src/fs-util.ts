// File helpers for the converter: atomic writes and "is this the same file" checks.
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';

/**
 * Writes `data` to `file` atomically: a temporary file in the same directory (same filesystem, so
 * rename is atomic), fsync'ed, then renamed over the target. Readers see the old file or the
 * complete new one, never a partial file; a crash leaves at most a stray `.tmp` file.
 */
export function writeFileAtomic(file: string, data: Uint8Array | string): void {
  const dir = path.dirname(path.resolve(file));
  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.${crypto.randomBytes(6).toString('hex')}.tmp`);
  let fd: number | undefined;
  try {
    fd = fs.openSync(tmp, 'wx', 0o644);
    fs.writeFileSync(fd, data);
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fd = undefined;
    fs.renameSync(tmp, file);
  } catch (err) {
    if (fd !== undefined) fs.closeSync(fd);
    fs.rmSync(tmp, { force: true });
    throw err;
  }
}

/**
 * True when `a` and `b` name the same file: same resolved path, same real path (symlinks), or,
 * if both exist, the same device and inode (hard links).
 */
export function isSameFile(a: string, b: string): boolean {
  const ra = path.resolve(a);
  const rb = path.resolve(b);
  if (ra === rb) return true;
  const real = (p: string) => {
    try {
      return fs.realpathSync(p);
    } catch {
      // A file that does not exist yet: resolve its directory instead.
      try {
        return path.join(fs.realpathSync(path.dirname(p)), path.basename(p));
      } catch {
        return p;
      }
    }
  };
  if (real(ra) === real(rb)) return true;
  try {
    const sa = fs.statSync(ra);
    const sb = fs.statSync(rb);
    return sa.dev === sb.dev && sa.ino === sb.ino;
  } catch {
    return false;
  }
}
