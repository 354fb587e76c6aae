// The face-api import pipeline: read and dequantise the tfjs weights -> build the ONNX graph with
// BatchNormalization nodes -> fold them with foldBatchNorm -> verify the folded graph against the
// unfolded one with verifyFold (onnxruntime, optimizations disabled) -> (caller) write atomically.
// Pure functions of the input bytes, so the output is byte-identical on every run and machine.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { encodeModel } from '../codec';
import { FoldReport, foldBatchNorm } from '../fold';
import { writeFileAtomic } from '../fs-util';
import { graphSummary, type GraphSummary } from '../inspect';
import type { PreparedModel } from '../prepare';
import { VerifyResult, verifyFold } from '../verify';
import { FACEAPI_BN_EPSILON, FACEAPI_SSD_NAME, buildFaceApiSsd } from './faceapi-ssd';
import { TfjsImportError, TfjsWeightFile, TfjsWeights, readTfjsWeights } from './weights';

export const FACEAPI_PACKAGE = '@vladmandic/face-api';
export const FACEAPI_PACKAGE_VERSION = '1.7.15';
export const FACEAPI_SSD_MANIFEST_FILE = 'ssd_mobilenetv1_model-weights_manifest.json';
export const FACEAPI_SSD_WEIGHTS_FILE = 'ssd_mobilenetv1_model.bin';
/** sha256 of the two files in @vladmandic/face-api@1.7.15 `model/` (reference §1). */
export const FACEAPI_SSD_SHA256: Readonly<Record<string, string>> = Object.freeze({
  [FACEAPI_SSD_MANIFEST_FILE]: '888f744dffbc84f5f060d1f8427d9742341943a2dfaaf9205d10029b7e7a2955',
  [FACEAPI_SSD_WEIGHTS_FILE]: '2835640602d53718aa6ae9a42896327eaa21beefed056c218d32ca7d79e1e2f8',
});
/** The fused face model prepareFaceModel keeps in the model directory. */
export const FACE_MODEL_FILE = 'faceapi-ssd-mobilenetv1.onnx';

/**
 * Verification tolerances for the imported model (verifyFold: random inputs in [-1, 1], both graphs
 * run with optimizations off). The absolute floor is 1e-4, not the converter's 1e-5: float32
 * rounding differs between W * s and (conv(W) - mean) * s by up to ~4e-5 on `mbox_loc` values near
 * zero, after 35 layers of a real network. A wrong fold or a wrong epsilon is orders of magnitude
 * larger (see the face-api fold test).
 */
export const FACE_VERIFY_RTOL = 1e-4;
export const FACE_VERIFY_ATOL = 1e-4;

export interface ImportFaceApiOptions {
  /** Run both graphs in onnxruntime and compare (default true). */
  verify?: boolean;
  /** Tolerances of verifyFold (default FACE_VERIFY_RTOL, FACE_VERIFY_ATOL). */
  rtol?: number;
  atol?: number;
  /** Refuse files whose sha256 differs from @vladmandic/face-api@1.7.15's (default false). */
  requirePinned?: boolean;
  /** For experiments only: the epsilon written into the BN nodes (default FACEAPI_BN_EPSILON). */
  batchNormEpsilon?: number;
}

export type FaceGraphSummary = GraphSummary;

export interface FaceApiImportResult {
  manifestPath: string;
  files: TfjsWeightFile[];
  /** True when every file's sha256 is the pinned face-api 1.7.15 one. */
  pinned: boolean;
  tensorCount: number;
  /** Tensor count by storage: uint8, uint16, float16 (quantised) or float32/int32 (plain). */
  storedAs: Record<string, number>;
  /** The unfolded graph (BatchNormalization nodes, epsilon as the weights say). */
  unfused: Uint8Array;
  /** The folded graph: what gets served. */
  bytes: Uint8Array;
  report: FoldReport;
  /** null with verify: false. */
  verification: VerifyResult | null;
  before: FaceGraphSummary;
  after: FaceGraphSummary;
  timings: { readMs: number; buildMs: number; foldMs: number; verifyMs: number; totalMs: number };
}

/** An import result without the model bytes (what errors and reports carry). */
export type FaceApiImportSummary = Omit<FaceApiImportResult, 'bytes' | 'unfused'>;

export function summariseFaceImport(r: FaceApiImportResult): FaceApiImportSummary {
  const { bytes: _bytes, unfused: _unfused, ...rest } = r;
  void _bytes;
  void _unfused;
  return rest;
}

/** The folded model differs from the unfolded one by more than the tolerance; nothing is written. */
export class FaceImportVerificationError extends Error {
  constructor(
    message: string,
    readonly result: FaceApiImportSummary,
  ) {
    super(message);
    this.name = 'FaceImportVerificationError';
  }
}

/** Whether the files are the pinned ones (by base name and sha256). */
export function isPinnedFaceApi(files: readonly TfjsWeightFile[]): boolean {
  return files.length === 2 && files.every((f) => FACEAPI_SSD_SHA256[path.basename(f.path)] === f.sha256);
}

/** Builds the unfolded and the folded model from tfjs weights already read. */
export async function importFaceApiWeights(weights: TfjsWeights, options: ImportFaceApiOptions = {}): Promise<FaceApiImportResult> {
  const t0 = performance.now();
  const pinned = isPinnedFaceApi(weights.files);
  const sources = weights.files.map((f) => `${path.basename(f.path)} sha256:${f.sha256}`).join(', ');
  const unfoldedModel = buildFaceApiSsd(weights.tensors, {
    batchNormEpsilon: options.batchNormEpsilon,
    metadata: {
      'faceapi.source': pinned ? `${FACEAPI_PACKAGE}@${FACEAPI_PACKAGE_VERSION} model/ (${sources})` : `tfjs weights (${sources})`,
      'faceapi.license': `weights: MIT (${FACEAPI_PACKAGE}, face-api.js); upstream model yeephycho/tensorflow-face-detection (Apache-2.0) trained on WIDER FACE (CC BY-NC-ND 4.0 per its dataset card)`,
    },
  });
  const unfused = encodeModel(unfoldedModel);
  const t1 = performance.now();
  const { model: folded, report } = foldBatchNorm(unfoldedModel);
  const bytes = encodeModel(folded);
  const t2 = performance.now();
  const verification = options.verify === false ? null : await verifyFold(unfused, bytes, { rtol: options.rtol ?? FACE_VERIFY_RTOL, atol: options.atol ?? FACE_VERIFY_ATOL });
  const t3 = performance.now();
  const storedAs: Record<string, number> = {};
  for (const t of weights.tensors.values()) storedAs[t.storedAs] = (storedAs[t.storedAs] ?? 0) + 1;
  return {
    manifestPath: weights.manifestPath,
    files: weights.files,
    pinned,
    tensorCount: weights.tensors.size,
    storedAs,
    unfused,
    bytes,
    report,
    verification,
    before: graphSummary(unfoldedModel, unfused.byteLength),
    after: graphSummary(folded, bytes.byteLength),
    timings: { readMs: 0, buildMs: t1 - t0, foldMs: t2 - t1, verifyMs: t3 - t2, totalMs: t3 - t0 },
  };
}

/**
 * Reads a face-api SSD-MobileNetV1 tfjs manifest (and its shards), builds, folds and verifies.
 * Throws TfjsImportError for unusable input and FaceImportVerificationError when the folded model
 * is outside the tolerance.
 */
export async function importFaceApiSsd(manifestPath: string, options: ImportFaceApiOptions = {}): Promise<FaceApiImportResult> {
  const t0 = performance.now();
  const weights = readTfjsWeights(manifestPath);
  const readMs = performance.now() - t0;
  if (options.requirePinned && !isPinnedFaceApi(weights.files)) {
    const got = weights.files.map((f) => `${path.basename(f.path)} ${f.sha256}`).join(', ');
    throw new TfjsImportError(`'${manifestPath}' is not ${FACEAPI_PACKAGE}@${FACEAPI_PACKAGE_VERSION}'s SSD-MobileNetV1 (sha256: ${got})`);
  }
  const result = await importFaceApiWeights(weights, options);
  result.timings.readMs = readMs;
  result.timings.totalMs += readMs;
  const v = result.verification;
  if (v && !v.ok) {
    const what = v.error ?? `max abs error ${v.maxAbsError.toExponential(2)} exceeds atol ${v.atol} + rtol ${v.rtol} * |ref|`;
    throw new FaceImportVerificationError(`verification failed: ${what}; nothing written`, summariseFaceImport(result));
  }
  return result;
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

export interface PrepareFaceModelOptions {
  /** Default: the installed @vladmandic/face-api's manifest, which must be the pinned 1.7.15 one. */
  manifestPath?: string;
}

/**
 * Makes sure `dir` holds the fused face model (FACE_MODEL_FILE). When it is missing, it is imported
 * from @vladmandic/face-api (sha256-checked), folded, verified and written atomically; the bytes
 * are the same on every run. An existing file is used as is.
 */
export async function prepareFaceModel(dir: string, options: PrepareFaceModelOptions = {}): Promise<PreparedModel> {
  const modelPath = path.join(dir, FACE_MODEL_FILE);
  if (fs.existsSync(modelPath)) return { modelPath, created: false };
  const manifestPath = options.manifestPath ?? defaultFaceApiManifestPath();
  const result = await importFaceApiSsd(manifestPath, { requirePinned: true });
  fs.mkdirSync(dir, { recursive: true });
  writeFileAtomic(modelPath, result.bytes);
  return { modelPath, created: true };
}

// ---- human summary ------------------------------------------------------------------------------

function mb(bytes: number): string {
  return `${(bytes / 1e6).toFixed(2)} MB`;
}

function ops(summary: FaceGraphSummary): string {
  return Object.entries(summary.opCounts)
    .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
    .map(([op, n]) => `${op} ${n}`)
    .join(', ');
}

export function formatFaceImportSummary(r: FaceApiImportSummary, outputPath: string): string {
  const { report } = r;
  const stored = Object.entries(r.storedAs)
    .sort((a, b) => b[1] - a[1])
    .map(([k, n]) => `${n} ${k}`)
    .join(', ');
  const epsilons = [...new Set(report.folded.map((f) => f.epsilon))].map((e) => (e === FACEAPI_BN_EPSILON ? '1e-3' : String(e))).join(', ');
  const lines = [
    `bn-fuse convert (tfjs import): ${r.manifestPath} -> ${outputPath}`,
    `  weights: ${r.tensorCount} tensors (${stored}), ${r.files.slice(1).reduce((n, f) => n + f.bytes, 0)} bytes in ${r.files.length - 1} shard(s); ` +
      (r.pinned ? `sha256 = ${FACEAPI_PACKAGE}@${FACEAPI_PACKAGE_VERSION}` : `sha256 differs from ${FACEAPI_PACKAGE}@${FACEAPI_PACKAGE_VERSION} (imported anyway)`),
    `  model: ${FACEAPI_SSD_NAME}: data [N,3,512,512] BGR letterbox -> mbox_loc [N,5118,4], mbox_conf [N,5118,2]; prior table 5118; labels background, face`,
    `  BatchNormalization: ${report.batchNormFound} found, ${report.batchNormFolded} folded (epsilon ${epsilons || '-'}), ${report.batchNormLeft} left`,
  ];
  for (const left of report.left) lines.push(`    left ${left.batchNorm}: ${left.code}: ${left.reason}`);
  lines.push(`  nodes: ${r.before.nodes} -> ${r.after.nodes}`);
  lines.push(`    before: ${ops(r.before)}`);
  lines.push(`    after:  ${ops(r.after)}`);
  lines.push(`  size: ${mb(r.before.bytes)} -> ${mb(r.after.bytes)}`);
  const v = r.verification;
  if (!v) {
    lines.push('  verify: skipped (--no-verify)');
  } else {
    const shapes = Object.entries(v.inputShapes).map(([n, s]) => `${n}[${s.join(',')}]`).join(' ');
    lines.push(`  verify: ${v.ok ? 'OK' : 'FAILED'}: max abs error ${v.maxAbsError.toExponential(2)}, max rel error ${v.maxRelError.toExponential(2)} (rtol ${v.rtol}, atol ${v.atol}; onnxruntime, optimizations disabled, random ${shapes})`);
    if (v.error) lines.push(`    error: ${v.error}`);
    for (const o of v.outputs) lines.push(`    ${o.name} [${o.shape.join(',')}]: max abs ${o.maxAbsError.toExponential(2)}, ${(o.worstToleranceRatio * 100).toFixed(0)}% of tolerance`);
  }
  const t = r.timings;
  lines.push(`  time: ${(t.totalMs / 1000).toFixed(2)} s (read ${t.readMs.toFixed(0)} ms, build ${t.buildMs.toFixed(0)} ms, fold ${t.foldMs.toFixed(0)} ms, verify ${t.verifyMs.toFixed(0)} ms)`);
  return lines.join('\n');
}
