// The face-api front end: the SSD-MobileNetV1 tfjs weights of @vladmandic/face-api, read and
// dequantised (weights.ts), become the ONNX graph of faceapi-ssd.ts with its BatchNormalization
// nodes in place. A pure function of the input bytes, so the model is byte-identical everywhere.
import * as path from 'node:path';
import { FACEAPI_BN_EPSILON, FACEAPI_SSD_NAME, buildFaceApiSsd } from './faceapi-ssd';
import { TfjsImportError, TfjsWeightFile, TfjsWeights, readTfjsWeights } from './weights';
import type { ImportedModel } from '../imported';

const FACEAPI_PACKAGE = '@vladmandic/face-api';
const FACEAPI_PACKAGE_VERSION = '1.7.15';
const FACEAPI_SSD_MANIFEST_FILE = 'ssd_mobilenetv1_model-weights_manifest.json';
const FACEAPI_SSD_WEIGHTS_FILE = 'ssd_mobilenetv1_model.bin';
/** sha256 of the two files in @vladmandic/face-api@1.7.15 `model/` (reference §1). */
export const FACEAPI_SSD_SHA256: Readonly<Record<string, string>> = Object.freeze({
  [FACEAPI_SSD_MANIFEST_FILE]: '888f744dffbc84f5f060d1f8427d9742341943a2dfaaf9205d10029b7e7a2955',
  [FACEAPI_SSD_WEIGHTS_FILE]: '2835640602d53718aa6ae9a42896327eaa21beefed056c218d32ca7d79e1e2f8',
});

/**
 * Verification tolerances for the imported model (random inputs in [-1, 1], both graphs run with
 * optimizations off). The absolute floor is 1e-4, not the converter's 1e-5: float32 rounding
 * differs between W * s and (conv(W) - mean) * s by up to ~4e-5 on `mbox_loc` values near zero,
 * after 35 layers of a real network. A wrong fold or a wrong epsilon is orders of magnitude larger
 * (see the face-api fold test).
 */
export const FACE_VERIFY_RTOL = 1e-4;
export const FACE_VERIFY_ATOL = 1e-4;

export interface ImportFaceApiOptions {
  /** Refuse files whose sha256 differs from @vladmandic/face-api@1.7.15's (default false). */
  requirePinned?: boolean;
  /** For experiments only: the epsilon written into the BN nodes (default FACEAPI_BN_EPSILON). */
  batchNormEpsilon?: number;
}

/** Whether the files are the pinned ones (by base name and sha256). */
function isPinnedFaceApi(files: readonly TfjsWeightFile[]): boolean {
  return files.length === 2 && files.every((f) => FACEAPI_SSD_SHA256[path.basename(f.path)] === f.sha256);
}

/** Builds the graph (BatchNormalization nodes in place) from tfjs weights already read. */
function importFaceApiWeights(weights: TfjsWeights, options: ImportFaceApiOptions = {}): ImportedModel {
  const t0 = performance.now();
  const pinned = isPinnedFaceApi(weights.files);
  const sources = weights.files.map((f) => `${path.basename(f.path)} sha256:${f.sha256}`).join(', ');
  const model = buildFaceApiSsd(weights.tensors, {
    batchNormEpsilon: options.batchNormEpsilon,
    metadata: {
      'faceapi.source': pinned ? `${FACEAPI_PACKAGE}@${FACEAPI_PACKAGE_VERSION} model/ (${sources})` : `tfjs weights (${sources})`,
      'faceapi.license': `weights: MIT (${FACEAPI_PACKAGE}, face-api.js); upstream model yeephycho/tensorflow-face-detection (Apache-2.0) trained on WIDER FACE (CC BY-NC-ND 4.0 per its dataset card)`,
    },
  });
  const storedAs: Record<string, number> = {};
  for (const t of weights.tensors.values()) storedAs[t.storedAs] = (storedAs[t.storedAs] ?? 0) + 1;
  const stored = Object.entries(storedAs)
    .sort((a, b) => b[1] - a[1])
    .map(([k, n]) => `${n} ${k}`)
    .join(', ');
  const shardBytes = weights.files.slice(1).reduce((n, f) => n + f.bytes, 0);
  const epsilon = options.batchNormEpsilon ?? FACEAPI_BN_EPSILON;
  return {
    model,
    provenance: {
      source: weights.manifestPath,
      files: weights.files.map((f) => f.path),
      lines: [
        `tfjs: ${weights.tensors.size} tensors (${stored}), ${shardBytes} bytes in ${weights.files.length - 1} shard(s); ` +
          (pinned ? `sha256 = ${FACEAPI_PACKAGE}@${FACEAPI_PACKAGE_VERSION}` : `sha256 differs from ${FACEAPI_PACKAGE}@${FACEAPI_PACKAGE_VERSION} (imported anyway)`),
        `graph: ${FACEAPI_SSD_NAME}, BatchNormalization epsilon ${epsilon === FACEAPI_BN_EPSILON ? 'float32(1e-3)' : epsilon} as face-api's`,
      ],
      details: { format: 'tfjs', manifestPath: weights.manifestPath, files: weights.files, pinned, tensorCount: weights.tensors.size, storedAs },
      tolerance: { rtol: FACE_VERIFY_RTOL, atol: FACE_VERIFY_ATOL },
    },
    timings: { readMs: 0, importMs: performance.now() - t0 },
  };
}

/**
 * Reads a face-api SSD-MobileNetV1 tfjs manifest (and its shards) and builds the graph. Throws
 * TfjsImportError for unusable input.
 */
export function importFaceApi(manifestPath: string, options: ImportFaceApiOptions = {}): ImportedModel {
  const t0 = performance.now();
  const weights = readTfjsWeights(manifestPath);
  const readMs = performance.now() - t0;
  if (options.requirePinned && !isPinnedFaceApi(weights.files)) {
    const got = weights.files.map((f) => `${path.basename(f.path)} ${f.sha256}`).join(', ');
    throw new TfjsImportError(`'${manifestPath}' is not ${FACEAPI_PACKAGE}@${FACEAPI_PACKAGE_VERSION}'s SSD-MobileNetV1 (sha256: ${got})`);
  }
  const imported = importFaceApiWeights(weights, options);
  imported.timings.readMs = readMs;
  return imported;
}

/** Where @vladmandic/face-api's SSD manifest is installed (node_modules resolution). */
export function defaultFaceApiManifestPath(): string {
  let pkg: string;
  try {
    pkg = require.resolve(`${FACEAPI_PACKAGE}/package.json`, { paths: [process.cwd(), __dirname] });
  } catch {
    throw new TfjsImportError(`${FACEAPI_PACKAGE} is not installed (npm i -E ${FACEAPI_PACKAGE}@${FACEAPI_PACKAGE_VERSION}); it ships the face detector's weights`);
  }
  return path.join(path.dirname(pkg), 'model', FACEAPI_SSD_MANIFEST_FILE);
}
