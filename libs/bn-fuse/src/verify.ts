// Numerical check of a fold: run the original and the folded model in onnxruntime on the same
// seeded random inputs and compare every output.
//
// Both sessions use graphOptimizationLevel 'disabled'. At any other level ORT folds Conv+BN itself
// when it creates the session, so the reference would be a fused graph too and the comparison
// nearly vacuous (bn-folding.md §3, "what is worth copying" 1).
//
// Models are given as bytes or as file paths. A path is needed for models with external data
// (onnxruntime resolves the data files relative to the model file) and saves holding the bytes.
import * as fs from 'node:fs';
import type * as OrtTypes from 'onnxruntime-node';
import { decodeModel } from '@edge-ssd/onnx-io';
import { runtimeInputs } from '@edge-ssd/onnx-io';
import { DataType, ModelProto, int64ToApproxNumber } from '@edge-ssd/onnx-io';
import { Prng } from '@edge-ssd/prng';
import { decodeFloat16, encodeFloat16 } from '@edge-ssd/onnx-io';

export interface VerifyOptions {
  /** Relative tolerance (numpy allclose semantics: |a - b| <= atol + rtol * |a|). Default 1e-4. */
  rtol?: number;
  /** Absolute tolerance. Default 1e-5. */
  atol?: number;
  /** Seed of the random inputs. */
  seed?: number;
  /** Size used for every symbolic or unknown dimension (batch etc.). Default 2. */
  dynamicDimSize?: number;
  /** The original model, decoded, if the caller has it (its inputs define the random feeds). */
  reference?: ModelProto;
}

interface OutputComparison {
  name: string;
  shape: number[];
  /** onnxruntime element type of the output (float32, float16, ...). */
  type: string;
  maxAbsError: number;
  /**
   * max |a - b| / max(|a|, atol / rtol): the error relative to the reference wherever the relative
   * tolerance is the binding one. Below |a| = atol / rtol the absolute tolerance dominates and a
   * ratio to a near-zero reference would say nothing.
   */
  maxRelError: number;
  /** max |a - b| / (atol + rtol * |a|); the output passes when this is <= 1. */
  worstToleranceRatio: number;
  /** Elements outside the tolerance. */
  mismatches: number;
}

export interface VerifyResult {
  ok: boolean;
  rtol: number;
  atol: number;
  inputShapes: Record<string, number[]>;
  outputs: OutputComparison[];
  maxAbsError: number;
  maxRelError: number;
  /** Set when the models cannot be compared at all (different outputs, a run failure). */
  error?: string;
}

/**
 * Most input elements verification generates (all inputs together: 256 MB as float32). A model
 * declaring larger inputs (a hostile prototxt can declare any size for free) is not verified:
 * the result says so instead of the converter exhausting memory. The default 300x300 model needs
 * 540 000; convert such a model with --no-verify if it is meant.
 */
export const MAX_VERIFY_INPUT_ELEMENTS = 1 << 26;

export const DEFAULT_RTOL = 1e-4;
export const DEFAULT_ATOL = 1e-5;
const DEFAULT_SEED = 0x5eed;

const SESSION_OPTIONS: OrtTypes.InferenceSession.SessionOptions = {
  graphOptimizationLevel: 'disabled',
  executionProviders: ['cpu'],
};

let ortModule: typeof OrtTypes | undefined;

/** onnxruntime-node, loaded on first use: `convert --no-verify` never pays for it (time, memory). */
function ort(): typeof OrtTypes {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  ortModule ??= require('onnxruntime-node') as typeof OrtTypes;
  return ortModule;
}

/** Model bytes, or the path of a model file. */
export type ModelSource = Uint8Array | string;

export async function verifyFold(originalModel: ModelSource, foldedModel: ModelSource, options: VerifyOptions = {}): Promise<VerifyResult> {
  const rtol = options.rtol ?? DEFAULT_RTOL;
  const atol = options.atol ?? DEFAULT_ATOL;
  const original = options.reference ?? decodeModel(typeof originalModel === 'string' ? fs.readFileSync(originalModel) : originalModel);
  const shapes = inputShapes(original, options.dynamicDimSize ?? 2);
  const result: VerifyResult = { ok: false, rtol, atol, inputShapes: shapes, outputs: [], maxAbsError: 0, maxRelError: 0 };
  const elements = Object.values(shapes).reduce((n, dims) => n + dims.reduce((a, b) => a * b, 1), 0);
  if (!(elements <= MAX_VERIFY_INPUT_ELEMENTS)) {
    result.error = `the model's inputs (${Object.entries(shapes).map(([n, d]) => `${n}[${d.join(',')}]`).join(' ')}) have ${elements} elements, more than the ${MAX_VERIFY_INPUT_ELEMENTS} verification generates; convert with --no-verify to skip it`;
    return result;
  }
  const feeds = randomFeeds(original, shapes, options.seed ?? DEFAULT_SEED);

  let a: Record<string, OrtTypes.Tensor>;
  let b: Record<string, OrtTypes.Tensor>;
  try {
    a = await runModel(originalModel, feeds);
  } catch (err) {
    result.error = `onnxruntime cannot run the original model: ${firstLine(err)}`;
    return result;
  }
  try {
    b = await runModel(foldedModel, feeds);
  } catch (err) {
    result.error = `onnxruntime cannot run the folded model: ${firstLine(err)}`;
    return result;
  }
  const names = Object.keys(a);
  const missing = names.filter((n) => !(n in b));
  if (missing.length > 0) {
    result.error = `folded model lacks output(s) ${missing.join(', ')}`;
    return result;
  }
  for (const name of names) {
    const cmp = compareTensors(name, a[name], b[name], rtol, atol);
    result.outputs.push(cmp);
    result.maxAbsError = Math.max(result.maxAbsError, cmp.maxAbsError);
    result.maxRelError = Math.max(result.maxRelError, cmp.maxRelError);
  }
  result.ok = result.outputs.every((o) => o.mismatches === 0);
  return result;
}

function firstLine(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split('\n')[0];
}

async function runModel(model: ModelSource, feeds: Record<string, OrtTypes.Tensor>): Promise<Record<string, OrtTypes.Tensor>> {
  const session = typeof model === 'string' ? await ort().InferenceSession.create(model, SESSION_OPTIONS) : await ort().InferenceSession.create(model, SESSION_OPTIONS);
  try {
    const out = await session.run(feeds);
    return Object.fromEntries(session.outputNames.map((n) => [n, out[n]]));
  } finally {
    await session.release();
  }
}

function compareTensors(name: string, ref: OrtTypes.Tensor, got: OrtTypes.Tensor, rtol: number, atol: number): OutputComparison {
  const shape = [...ref.dims];
  const cmp: OutputComparison = { name, shape, type: ref.type, maxAbsError: 0, maxRelError: 0, worstToleranceRatio: 0, mismatches: 0 };
  if (ref.dims.join(',') !== got.dims.join(',') || ref.type !== got.type) {
    cmp.maxAbsError = Infinity;
    cmp.maxRelError = Infinity;
    cmp.worstToleranceRatio = Infinity;
    cmp.mismatches = ref.size;
    return cmp;
  }
  const relFloor = rtol > 0 ? Math.max(atol / rtol, Number.MIN_VALUE) : Math.max(atol, Number.MIN_VALUE);
  const x = ref.data as ArrayLike<number | bigint>;
  const y = got.data as ArrayLike<number | bigint>;
  // float16 outputs come as Uint16Array bit patterns (no Float16Array in Node 20): decode them.
  const value = ref.type === 'float16' && x instanceof Uint16Array ? (v: number | bigint) => decodeFloat16(Number(v)) : (v: number | bigint) => Number(v);
  for (let i = 0; i < x.length; i++) {
    const p = value(x[i]);
    const q = value(y[i]);
    if (Number.isNaN(p) && Number.isNaN(q)) continue;
    const diff = p === q ? 0 : Math.abs(p - q);
    const abs = Math.abs(p);
    const ratio = Number.isNaN(diff) ? Infinity : diff / (atol + rtol * abs);
    if (Number.isNaN(diff) || diff > cmp.maxAbsError) cmp.maxAbsError = Number.isNaN(diff) ? Infinity : diff;
    const rel = Number.isNaN(diff) ? Infinity : diff / Math.max(abs, relFloor);
    if (rel > cmp.maxRelError) cmp.maxRelError = rel;
    if (ratio > cmp.worstToleranceRatio) cmp.worstToleranceRatio = ratio;
    if (ratio > 1) cmp.mismatches++;
  }
  return cmp;
}

/** The shape of every runtime input, symbolic, unknown and non-positive dims set to `dynamic`. */
function inputShapes(model: ModelProto, dynamic: number): Record<string, number[]> {
  const shapes: Record<string, number[]> = {};
  for (const input of runtimeInputs(model)) {
    // An int64 beyond 2^53 comes out approximate: far over the element cap either way.
    shapes[input.name ?? ''] = (input.type?.tensor_type?.shape?.dim ?? []).map((d) => {
      const v = d.dim_value === undefined ? 0 : int64ToApproxNumber(d.dim_value);
      return v > 0 ? v : dynamic;
    });
  }
  return shapes;
}

function randomFeeds(model: ModelProto, shapes: Record<string, number[]>, seed: number): Record<string, OrtTypes.Tensor> {
  const rng = new Prng(seed);
  const feeds: Record<string, OrtTypes.Tensor> = {};
  for (const input of runtimeInputs(model)) {
    const name = input.name ?? '';
    const tensorType = input.type?.tensor_type;
    if (!tensorType) throw new Error(`input '${name}' is not a tensor; cannot generate data for it`);
    const dims = shapes[name];
    feeds[name] = randomTensor(tensorType.elem_type ?? DataType.FLOAT, dims.reduce((a, b) => a * b, 1), dims, rng, name);
  }
  return feeds;
}

function randomTensor(elemType: number, size: number, dims: number[], rng: Prng, name: string): OrtTypes.Tensor {
  const { Tensor } = ort();
  switch (elemType) {
    case DataType.FLOAT:
      return new Tensor('float32', Float32Array.from({ length: size }, () => rng.uniform(-1, 1)), dims);
    case DataType.DOUBLE:
      return new Tensor('float64', Float64Array.from({ length: size }, () => rng.uniform(-1, 1)), dims);
    case DataType.FLOAT16:
      return new Tensor('float16', Uint16Array.from({ length: size }, () => encodeFloat16(rng.uniform(-1, 1))), dims);
    case DataType.INT32:
      return new Tensor('int32', Int32Array.from({ length: size }, () => Math.floor(rng.uniform(0, 4))), dims);
    case DataType.INT64:
      return new Tensor('int64', BigInt64Array.from({ length: size }, () => BigInt(Math.floor(rng.uniform(0, 4)))), dims);
    case DataType.UINT8:
      return new Tensor('uint8', Uint8Array.from({ length: size }, () => Math.floor(rng.uniform(0, 256))), dims);
    case DataType.BOOL:
      return new Tensor('bool', Uint8Array.from({ length: size }, () => (rng.next() < 0.5 ? 1 : 0)), dims);
    default:
      throw new Error(`input '${name}' has element type ${elemType}, for which no random data is generated`);
  }
}
