// A fixed directory tree for the targets that resolve names against a directory (ONNX external
// data, tfjs shards): a model directory holding regular files, and around and inside it every
// hostile kind of entry (symlinks leading out at the last or an earlier component, a symlink loop,
// a device, a FIFO, a directory). Files inside hold only bytes 0x01..0x7f, the file outside only
// 0xee and /dev/zero zeros, so a target can tell from the bytes it got whether a read escaped.
import { spawnSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export interface Sandbox {
  /** The model (or manifest) directory: names are resolved against it. */
  modelDir: string;
  /** sha256 (hex) of every regular file inside modelDir. */
  insideHashes: ReadonlySet<string>;
  /** A directory of its own for files a target writes (outside modelDir). */
  scratchDir: string;
}

/** Inside files: 64 and 256 bytes of 0x01..0x7f. */
const INSIDE_FILES: Readonly<Record<string, number>> = { 'w.bin': 64, 'sub/w.bin': 64, 'big.bin': 256 };

/** True when every byte is one an inside file can hold. */
export function bytesFromInside(bytes: Uint8Array): boolean {
  return bytes.every((b) => b >= 0x01 && b <= 0x7f);
}

function content(size: number, salt: number): Buffer {
  return Buffer.from(Array.from({ length: size }, (_, i) => 1 + ((i * 7 + salt) % 0x7f)));
}

let made: (Sandbox & { root: string }) | undefined;

/** Removes the sandbox (at exit, or earlier where 'exit' does not fire, as in a jest worker). */
export function removeSandbox(): void {
  if (made) fs.rmSync(made.root, { recursive: true, force: true });
  made = undefined;
}

/** Creates the sandbox once per process (removed at exit). Needs mkfifo (coreutils). */
export function sandbox(): Sandbox {
  if (made) return made;
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'edge-ssd-fuzz-sandbox-'));
  process.on('exit', removeSandbox);
  const modelDir = path.join(root, 'model');
  fs.mkdirSync(path.join(modelDir, 'sub'), { recursive: true });
  fs.mkdirSync(path.join(modelDir, 'dir'));
  const scratchDir = path.join(root, 'scratch');
  fs.mkdirSync(scratchDir);
  const hashes = new Set<string>();
  Object.entries(INSIDE_FILES).forEach(([name, size], i) => {
    const bytes = content(size, i);
    fs.writeFileSync(path.join(modelDir, name), bytes);
    hashes.add(crypto.createHash('sha256').update(bytes).digest('hex'));
  });
  fs.writeFileSync(path.join(root, 'outside.bin'), Buffer.alloc(256, 0xee));
  fs.symlinkSync('w.bin', path.join(modelDir, 'link-in.bin'));
  fs.symlinkSync('../w.bin', path.join(modelDir, 'sub', 'up.bin'));
  fs.symlinkSync('../outside.bin', path.join(modelDir, 'link-out.bin'));
  fs.symlinkSync('..', path.join(modelDir, 'up'));
  fs.symlinkSync('loop', path.join(modelDir, 'loop'));
  fs.symlinkSync('/dev/zero', path.join(modelDir, 'dev'));
  const fifo = spawnSync('mkfifo', [path.join(modelDir, 'fifo')], { encoding: 'utf8' });
  if (fifo.error || fifo.status !== 0) throw new Error(`the fuzz sandbox needs mkfifo (coreutils): ${fifo.error?.message ?? fifo.stderr}`);
  made = { root, modelDir, insideHashes: hashes, scratchDir };
  return made;
}
