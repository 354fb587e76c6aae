// The fuzz targets are the files of targets/: adding one is adding a file there that exports the
// jsfuzz `fuzz(buf)` function (made with defineTarget) and, optionally, `seeds()`; its seed corpus
// is corpus/<file name>/.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { FuzzTarget } from './harness';

export interface TargetModule {
  fuzz(buf: Buffer): void;
  target: FuzzTarget;
  /** Valid inputs made by the project's own writers, by file name. */
  seeds?(): Record<string, Uint8Array>;
}

/** targets/ next to this file: dist/targets (compiled) or src/targets (under jest). */
const TARGETS_DIR = path.join(__dirname, 'targets');
/** The committed seed corpora, one directory per target. */
export const CORPUS_DIR = path.resolve(__dirname, '..', 'corpus');

const SOURCE = /^(?!.*\.d\.ts$).*\.(js|ts)$/;

/** Target names (file names without extension), sorted. */
export function targetNames(): string[] {
  return fs
    .readdirSync(TARGETS_DIR)
    .filter((f) => SOURCE.test(f))
    .map((f) => f.replace(/\.(js|ts)$/, ''))
    .sort();
}

/** The file of a target: compiled .js when there is one, else the .ts source. */
function targetFile(name: string): string {
  for (const ext of ['.js', '.ts']) {
    const file = path.join(TARGETS_DIR, `${name}${ext}`);
    if (fs.existsSync(file)) return file;
  }
  throw new Error(`no fuzz target '${name}' in ${TARGETS_DIR} (targets: ${targetNames().join(', ')})`);
}

export function loadTarget(name: string): TargetModule {
  // Targets are discovered at run time, so they cannot be static imports.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const mod = require(targetFile(name)) as Partial<TargetModule>;
  if (typeof mod.fuzz !== 'function' || !mod.target) throw new Error(`fuzz target '${name}' must export fuzz (from defineTarget) and target`);
  return mod as TargetModule;
}

/** The corpus files of a target (empty when it has no corpus directory). */
export function corpusFiles(name: string, dir = CORPUS_DIR): string[] {
  const d = path.join(dir, name);
  if (!fs.existsSync(d)) return [];
  return fs
    .readdirSync(d)
    .sort()
    .map((f) => path.join(d, f));
}
