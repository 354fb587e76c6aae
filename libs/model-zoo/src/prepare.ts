// `model prepare`: makes sure a directory holds a built-in model with exactly the pinned bytes.
// npm start runs it before starting detectors, a Kubernetes init container runs it into the pod's
// model volume; the detector itself only reads the file.
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, mkdirSync, rmSync } from 'node:fs';
import * as path from 'node:path';
import type { BuiltinModel } from './zoo';

export interface PreparedModel {
  path: string;
  sha256: string;
  /** present: the right file was there; written: it was made; replaced: a different file was there and was made again. */
  action: 'present' | 'written' | 'replaced';
}

export class ModelMismatchError extends Error {}

async function sha256Of(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

export async function prepareBuiltinModel(model: BuiltinModel, dir: string): Promise<PreparedModel> {
  const file = path.resolve(dir, model.file);
  let action: PreparedModel['action'] = 'written';
  if (existsSync(file)) {
    if ((await sha256Of(file)) === model.sha256) return { path: file, sha256: model.sha256, action: 'present' };
    // A stale or damaged copy (an older release's bytes, a partial copy by hand): make it again.
    rmSync(file);
    action = 'replaced';
  }
  mkdirSync(dir, { recursive: true });
  await model.make(dir);
  const sha256 = await sha256Of(file);
  if (sha256 !== model.sha256) {
    // Never leave unpinned bytes where a detector would serve them.
    rmSync(file, { force: true });
    throw new ModelMismatchError(`${model.name}: made ${sha256}, expected ${model.sha256}; the sources in node_modules differ from the pinned ones (run npm ci)`);
  }
  return { path: file, sha256, action };
}
