// Reads the served model once at start: its hash, the SSD spec it carries and whether its
// BatchNorms were folded. Workers get the path and the spec; they never re-derive either.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { inspectModel } from '@edge-ssd/bn-fuse';
import { countPriors, specFromMetadata, type SsdSpec } from '@edge-ssd/ssd-core';
import type { ModelInfo } from '@edge-ssd/protos';

export interface LoadedModel {
  path: string;
  spec: SsdSpec;
  info: ModelInfo;
}

export async function loadModel(modelPath: string): Promise<LoadedModel> {
  let bytes: Buffer;
  try {
    bytes = await readFile(modelPath);
  } catch (error) {
    throw new Error(`cannot read model ${modelPath}: ${(error as Error).message}`);
  }
  const inspection = inspectModel(bytes);
  const spec = specFromMetadata(inspection.metadata);
  if (spec.input.resize !== 'warp') throw new Error(`model ${modelPath}: resize mode "${spec.input.resize}" is not served yet`);
  return {
    path: modelPath,
    spec,
    info: {
      name: spec.name,
      sha256: createHash('sha256').update(bytes).digest('hex'),
      inputWidth: spec.input.width,
      inputHeight: spec.input.height,
      labels: [...spec.labels],
      bnFused: inspection.batchNormCount === 0,
      numPriors: countPriors(spec),
    },
  };
}
