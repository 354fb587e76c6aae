// Staging a converted model (and its external data) next to the output, and putting it in place
// so that a crash at any moment leaves either the previous model with its data or the new model
// with its data, never one with the other's.
//
// The two files cannot be replaced together by one rename. So the data file is content-addressed:
// `<output>.<first 16 hex digits of its sha256>.data`, and the model's `location` names it. A new
// data file then never replaces the one the previous model reads (unless the bytes are the same),
// and the order is:
//   1. rename the staged data file to its final name (the previous pair is untouched), fsync the
//      directory;
//   2. rename the staged model over the output: the commit point, fsync the directory;
//   3. remove the data files the previous model referenced that follow this naming for this output
//      (or the old fixed `<output>.data` name) and that neither the new model nor the input reads.
// A crash before 2 leaves the previous pair plus an unreferenced new data file; after 2, the new
// pair plus at most the previous, now unreferenced, data file. The model bytes stay deterministic:
// the same data gives the same hash, so the same location.
//
// This module is internal (not exported by the package): tests inject a failure after any step
// through commit()'s `afterStep` parameter.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { encodeModelChunks, decodeModel } from './codec';
import { ExternalDataReader, externalLocation, forEachTensor, mapModelTensors, writeExternalData } from './external-data';
import { isSameFile, tempPathNextTo, writeNewFile } from './fs-util';
import { readModelFile } from './model-file';
import { ModelProto } from './onnx-types';
import { isExternalTensor } from './tensor';

/** Hex digits of the data file's sha256 in its name: 64 bits, collisions are not a concern. */
const DATA_HASH_DIGITS = 16;

/** The steps of a commit, in order; `afterStep` is called after each. */
export type CommitStep = 'data-renamed' | 'model-renamed' | 'previous-data-removed';

export interface StagedOutput {
  /** The staged model file (verify it before committing). */
  modelPath: string;
  modelBytes: number;
  /** The staged data file, when the output has external data. */
  dataPath?: string;
  /** Where the data file goes on commit: `<output>.<hash>.data`. */
  finalDataPath?: string;
  /**
   * Puts the staged file(s) in place (see the steps above) and removes the previous model's
   * unreferenced data files, except those in `keep` (the input's data). `afterStep` is for tests:
   * throwing from it simulates a crash after that step.
   */
  commit(keep?: readonly string[], afterStep?: (step: CommitStep) => void): void;
  /** Removes whatever is still staged (after commit: nothing). */
  discard(): void;
}

/** The data file name for an output whose data has this sha256. */
function dataFileName(outputPath: string, sha256: string): string {
  return `${path.basename(outputPath)}.${sha256.slice(0, DATA_HASH_DIGITS)}.data`;
}

/** True for names this converter gives data files of `outputPath` (now, or the former fixed name). */
function isOwnDataFileName(outputPath: string, name: string): boolean {
  const base = path.basename(outputPath);
  if (name === `${base}.data`) return true;
  if (!name.startsWith(`${base}.`) || !name.endsWith('.data')) return false;
  return new RegExp(`^[0-9a-f]{${DATA_HASH_DIGITS}}$`).test(name.slice(base.length + 1, -'.data'.length));
}

/** Best effort: not every filesystem can fsync a directory, and the renames are done anyway. */
function fsyncDir(dir: string): void {
  let fd: number | undefined;
  try {
    fd = fs.openSync(dir, 'r');
    fs.fsyncSync(fd);
  } catch {
    // EINVAL/EPERM on some filesystems: nothing more to do.
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

/**
 * The data files (absolute paths) that the model now at `outputPath` references and that carry
 * this converter's names for it. Empty when there is no such model or it cannot be read: then
 * nothing is removed.
 */
function previousDataFiles(outputPath: string): string[] {
  let file;
  try {
    file = readModelFile(outputPath);
  } catch {
    return [];
  }
  try {
    const model = decodeModel(file.skeleton);
    const dir = path.dirname(path.resolve(outputPath));
    const out = new Set<string>();
    forEachTensor(model, (t) => {
      if (!isExternalTensor(t)) return;
      const location = externalLocation(t).location;
      if (!location.includes('/') && isOwnDataFileName(outputPath, location)) out.add(path.join(dir, location));
    });
    return [...out];
  } catch {
    return [];
  } finally {
    file.close();
  }
}

function commitFiles(outputPath: string, modelPath: string, data: { from: string; to: string } | undefined, keep: readonly string[], afterStep: (step: CommitStep) => void): void {
  const dir = path.dirname(path.resolve(outputPath));
  const previous = previousDataFiles(outputPath);
  // A data file of that name already there has the same bytes and may be the previous model's.
  const replacesData = data !== undefined && fs.existsSync(data.to);
  if (data) {
    fs.renameSync(data.from, data.to);
    fsyncDir(dir);
  }
  afterStep('data-renamed');
  try {
    fs.renameSync(modelPath, outputPath);
  } catch (err) {
    if (data && !replacesData) fs.rmSync(data.to, { force: true });
    throw err;
  }
  fsyncDir(dir);
  afterStep('model-renamed');
  for (const old of previous) {
    if (data && isSameFile(old, data.to)) continue;
    if (keep.some((k) => isSameFile(k, old))) continue;
    fs.rmSync(old, { force: true });
  }
  afterStep('previous-data-removed');
}

/**
 * Writes `model` to temporary paths next to `outputPath`: one file when `reader` is undefined
 * (the input had no external data), else a hidden directory holding the model and its data file.
 * Throws TensorDataError for unreadable input data and file system errors for the output.
 */
export function stageOutput(model: ModelProto, outputPath: string, reader: ExternalDataReader | undefined): StagedOutput {
  const noop = () => undefined;
  if (!reader) {
    const tmp = tempPathNextTo(outputPath);
    let modelBytes = 0;
    try {
      const chunks = encodeModelChunks(model);
      modelBytes = chunks.reduce((n, c) => n + c.byteLength, 0);
      writeNewFile(tmp, chunks);
    } catch (err) {
      fs.rmSync(tmp, { force: true });
      throw err;
    }
    let committed = false;
    return {
      modelPath: tmp,
      modelBytes,
      commit(keep = [], afterStep = noop) {
        commitFiles(outputPath, tmp, undefined, keep, (step) => {
          if (step === 'model-renamed') committed = true;
          afterStep(step);
        });
      },
      discard() {
        if (!committed) fs.rmSync(tmp, { force: true });
      },
    };
  }
  const dir = tempPathNextTo(outputPath, 'tmpdir');
  try {
    fs.mkdirSync(dir);
    // The final name depends on the bytes, known only once written: write under a placeholder
    // location, then name the file by its hash (next to the staged model too, where verification
    // reads it) and point the model at that name.
    const unnamed = path.join(dir, 'data');
    const placeholder = '\0staged-data';
    const written = writeExternalData(model, unnamed, reader, placeholder);
    const name = written.bytes > 0 ? dataFileName(outputPath, written.sha256) : undefined;
    let located = written.model;
    let stagedData: string | undefined;
    if (name) {
      stagedData = path.join(dir, name);
      fs.renameSync(unnamed, stagedData);
      located = mapModelTensors(written.model, (t) =>
        t.external_data.some((e) => e.key === 'location' && e.value === placeholder)
          ? { ...t, external_data: t.external_data.map((e) => (e.key === 'location' ? { ...e, value: name } : e)) }
          : t,
      );
    } else {
      // Nothing large left (every external tensor was folded into small ones): no data file.
      fs.rmSync(unnamed);
    }
    const finalDataPath = name ? path.join(path.dirname(outputPath), name) : undefined;
    const modelPath = path.join(dir, path.basename(outputPath));
    const chunks = encodeModelChunks(located);
    writeNewFile(modelPath, chunks);
    return {
      modelPath,
      modelBytes: chunks.reduce((n, c) => n + c.byteLength, 0),
      ...(stagedData && finalDataPath ? { dataPath: stagedData, finalDataPath } : {}),
      commit(keep = [], afterStep = noop) {
        commitFiles(outputPath, modelPath, stagedData && finalDataPath ? { from: stagedData, to: finalDataPath } : undefined, keep, afterStep);
      },
      discard() {
        fs.rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    fs.rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}
