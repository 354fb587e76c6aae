// Opening files whose names come from the user or, worse, from inside an input file.
//
// A model, a tfjs manifest or a prototxt may be hostile: a name inside it must not reach files
// outside the directory it came from (absolute paths, `..`, a symlink pointing elsewhere), and no
// file may hang or exhaust the converter (a FIFO blocks an ordinary open forever, a device or
// /proc file never ends, a directory is not data). So every file here is opened without blocking
// (O_NONBLOCK: opening a FIFO returns at once), checked with fstat on the descriptor actually
// opened (so a rename after a check changes nothing), required to be a regular file, and
// size-capped before a single byte is read. Callers turn a FileRefusal into their own error type
// (the CLI's one-line exit-2 errors).
import * as fs from 'node:fs';
import * as path from 'node:path';

/** Why a file was refused: callers phrase some of these in their own words. */
export type RefusalCode = 'name' | 'outside' | 'not-regular' | 'too-large' | 'unreadable';

/** A file that must not be read; `reason` completes "'<file>': ..." in a message. */
export class FileRefusal extends Error {
  constructor(
    readonly file: string,
    readonly reason: string,
    readonly code: RefusalCode = 'unreadable',
  ) {
    super(`'${file}': ${reason}`);
    this.name = 'FileRefusal';
  }
}

export interface OpenedFile {
  fd: number;
  size: number;
  /** The path that was opened (after resolving symlinks, for files opened inside a directory). */
  path: string;
}

const O_NOFOLLOW = fs.constants.O_NOFOLLOW ?? 0;
const O_NONBLOCK = fs.constants.O_NONBLOCK ?? 0;

function describeErrno(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOENT' || code === 'ENOTDIR') return 'no such file';
  if (code === 'EACCES' || code === 'EPERM') return 'permission denied';
  if (code === 'ELOOP') return 'is a symlink loop';
  return err instanceof Error ? err.message : String(err);
}

function kindOf(st: fs.Stats): string {
  if (st.isDirectory()) return 'a directory';
  if (st.isFIFO()) return 'a FIFO';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isSocket()) return 'a socket';
  if (st.isSymbolicLink()) return 'a symlink';
  return 'not a regular file';
}

/** fstat checks on a freshly opened descriptor; closes it and throws when they fail. */
function checkOpened(fd: number, shown: string, maxBytes: number | undefined): number {
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile()) {
      const kind = kindOf(st);
      throw new FileRefusal(shown, kind === 'not a regular file' ? kind : `is ${kind}, not a regular file`, 'not-regular');
    }
    if (maxBytes !== undefined && st.size > maxBytes) throw new FileRefusal(shown, `is ${st.size} bytes, more than the ${maxBytes} allowed`, 'too-large');
    return st.size;
  } catch (err) {
    fs.closeSync(fd);
    throw err;
  }
}

/**
 * Opens a file the user named on the command line: symlinks are followed (the user chose the
 * path), but it must be a regular file of at most `maxBytes` bytes.
 */
export function openRegularFile(file: string, maxBytes?: number): OpenedFile {
  let fd: number;
  try {
    fd = fs.openSync(file, fs.constants.O_RDONLY | O_NONBLOCK);
  } catch (err) {
    throw new FileRefusal(file, describeErrno(err));
  }
  return { fd, size: checkOpened(fd, file, maxBytes), path: file };
}

/** True when `p` is `dir` or below it (both absolute and normalised). */
function isInside(dir: string, p: string): boolean {
  const prefix = dir.endsWith(path.sep) ? dir : dir + path.sep;
  return p === dir || p.startsWith(prefix);
}

export type NameProblem = 'empty' | 'nul' | 'absolute' | 'parent';

const NAME_PROBLEMS: Record<NameProblem, string> = {
  empty: 'is empty',
  nul: 'contains a NUL byte',
  absolute: 'is an absolute path',
  parent: "has a '..' component",
};

/** The text for a NameProblem, completing "'<name>' ...". */
export function describeNameProblem(problem: NameProblem): string {
  return NAME_PROBLEMS[problem];
}

/**
 * Why a relative name taken from a file cannot be used, or undefined when it can: it must be
 * relative (POSIX or Windows style), without NUL and without any `..` component (even one that
 * would stay inside: nothing legitimate needs it). Backslashes count as separators, as Windows
 * writers produce them.
 */
export function relativeNameProblem(name: string): NameProblem | undefined {
  if (name === '') return 'empty';
  if (name.includes('\0')) return 'nul';
  if (path.posix.isAbsolute(name) || path.win32.isAbsolute(name) || /^[A-Za-z]:/.test(name)) return 'absolute';
  if (name.split(/[\\/]/).includes('..')) return 'parent';
  return undefined;
}

/**
 * Opens `name` (a relative path read from an untrusted file) inside `baseDir`. Refused: names
 * with a problem (relativeNameProblem), a path that resolves outside baseDir through a symlink at
 * any component (compared by real path, so baseDir itself may be reached through symlinks), and
 * anything but a regular file of at most `maxBytes` bytes. The resolved path is opened with
 * O_NOFOLLOW, and on Linux the descriptor's own path (/proc/self/fd) is checked again, so a
 * component swapped for a symlink between the check and the open is caught too.
 */
export function openInside(baseDir: string, name: string, maxBytes?: number): OpenedFile {
  const problem = relativeNameProblem(name);
  if (problem) throw new FileRefusal(name, describeNameProblem(problem), 'name');
  let realBase: string;
  try {
    realBase = fs.realpathSync(baseDir);
  } catch (err) {
    throw new FileRefusal(name, `its directory '${baseDir}' cannot be resolved (${describeErrno(err)})`);
  }
  let real: string;
  try {
    real = fs.realpathSync(path.join(realBase, name.replace(/\\/g, '/')));
  } catch (err) {
    throw new FileRefusal(name, describeErrno(err));
  }
  if (!isInside(realBase, real)) throw new FileRefusal(name, `leads outside '${realBase}' through a symlink: it resolves to '${real}'`, 'outside');
  let fd: number;
  try {
    fd = fs.openSync(real, fs.constants.O_RDONLY | O_NOFOLLOW | O_NONBLOCK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    // ELOOP with O_NOFOLLOW: the last component became a symlink after realpath resolved it.
    if (code === 'ELOOP') throw new FileRefusal(name, 'was replaced by a symlink while it was opened', 'outside');
    throw new FileRefusal(name, describeErrno(err));
  }
  let opened: string | undefined;
  try {
    opened = fs.readlinkSync(`/proc/self/fd/${fd}`);
  } catch {
    // No /proc (not Linux): the realpath check above is what we have.
  }
  if (opened !== undefined && opened.startsWith('/') && !isInside(realBase, opened)) {
    fs.closeSync(fd);
    throw new FileRefusal(name, `leads outside '${realBase}': a directory was swapped while it was opened, it resolves to '${opened}'`, 'outside');
  }
  return { fd, size: checkOpened(fd, name, maxBytes), path: real };
}

/** Reads the whole (regular, size-checked) file and closes it; a file that shrank is an error. */
export function readAndClose(f: OpenedFile): Buffer {
  try {
    const out = Buffer.allocUnsafe(f.size);
    let done = 0;
    while (done < f.size) {
      const n = fs.readSync(f.fd, out, done, f.size - done, done);
      if (n <= 0) throw new FileRefusal(f.path, `shrank while being read (${done} of ${f.size} bytes)`);
      done += n;
    }
    return out;
  } finally {
    fs.closeSync(f.fd);
  }
}

/** openRegularFile + readAndClose. */
export function readRegularFile(file: string, maxBytes?: number): Buffer {
  return readAndClose(openRegularFile(file, maxBytes));
}
