// readTfjsWeights on an untrusted manifest: shard paths resolved against the fixed sandbox
// (sandbox.ts). Besides crashes, a finding is a shard read from anywhere but a regular file inside
// the manifest's directory (its sha256 is then none of theirs), or a hang (a FIFO opened blocking).
//
// Input: the manifest JSON, written as manifest.json into the sandbox's model directory.
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { TfjsImportError, readTfjsWeights } from '@edge-ssd/importers';
import { defineTarget } from '../harness';
import { sandbox } from '../sandbox';

const sb = sandbox();
const manifestPath = path.join(sb.modelDir, 'manifest.json');

export const target = defineTarget({
  expected: [TfjsImportError],
  run(data) {
    fs.writeFileSync(manifestPath, data);
    const allowed = new Set([...sb.insideHashes, crypto.createHash('sha256').update(data).digest('hex')]);
    const read = readTfjsWeights(manifestPath);
    for (const f of read.files.slice(1)) {
      if (!allowed.has(f.sha256)) throw new Error(`shard '${f.path}' was read from a file outside the manifest's directory (sha256 ${f.sha256})`);
    }
  },
});

export const fuzz = target.fuzz;

const weights = (n: number) => [{ name: 'w', shape: [n], dtype: 'float32', quantization: { dtype: 'uint8', scale: 0.5, min: 0 } }];

/** Shards inside (also through inside symlinks and split), and each way out of the sandbox. */
export function seeds(): Record<string, Uint8Array> {
  const m = (paths: string[], n = 64) => Buffer.from(JSON.stringify([{ paths, weights: weights(n) }]));
  return {
    'inside.json': m(['w.bin']),
    'inside-split.json': m(['w.bin', 'sub/w.bin'], 128),
    'inside-symlinks.json': m(['link-in.bin', 'sub/up.bin'], 128),
    'model-json.json': Buffer.from(JSON.stringify({ format: 'layers-model', weightsManifest: [{ paths: ['big.bin'], weights: weights(256) }] })),
    'escape-dotdot.json': m(['../outside.bin'], 256),
    'escape-symlink.json': m(['link-out.bin', 'up/outside.bin'], 512),
    'escape-absolute.json': m(['/etc/hostname']),
    'special-files.json': m(['fifo', 'dir', 'dev', 'loop', 'manifest.json'], 320),
  };
}
