// File helpers for the converter: atomic writes and "is this the same file" checks.
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ModelChunk, forEachChunkPiece } from './codec';

/** Piece size for writing lazy chunks. */
const WRITE_WINDOW = 1 << 20;

/** A hidden temporary path next to `file` (same directory, so a rename onto `file` is atomic). */
export function tempPathNextTo(file: string, suffix = 'tmp'): string {
  const dir = path.dirname(path.resolve(file));
  return path.join(dir, `.${path.basename(file)}.${process.pid}.${crypto.randomBytes(6).toString('hex')}.${suffix}`);
}

/** Writes data (or chunks of it, in order) to a new file, fsync'ed; fails if the file exists. */
export function writeNewFile(file: string, data: Uint8Array | string | readonly ModelChunk[]): void {
  const fd = fs.openSync(file, 'wx', 0o644);
  try {
    if (typeof data === 'string' || data instanceof Uint8Array) {
      fs.writeFileSync(fd, data);
    } else {
      // Lazy chunks are read (or computed) piece by piece into one buffer and written.
      forEachChunkPiece(data, new Uint8Array(WRITE_WINDOW), (chunk) => {
        let done = 0;
        while (done < chunk.byteLength) done += fs.writeSync(fd, chunk, done, chunk.byteLength - done);
      });
    }
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Writes `data` to `file` atomically: a temporary file in the same directory (same filesystem, so
 * rename is atomic), fsync'ed, then renamed over the target. Readers see the old file or the
 * complete new one, never a partial file; a crash leaves at most a stray `.tmp` file. `data` may
 * be a list of chunks (written in order, never concatenated in memory).
 */
export function writeFileAtomic(file: string, data: Uint8Array | string | readonly ModelChunk[]): void {
  const tmp = tempPathNextTo(file);
  try {
    writeNewFile(tmp, data);
    fs.renameSync(tmp, file);
  } catch (err) {
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
