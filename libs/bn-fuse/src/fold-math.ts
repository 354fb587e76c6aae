// The arithmetic of folding a BatchNormalization into its producer, on typed arrays only. For
// output channel c:
//   s[c]  = gamma[c] / sqrt(var[c] + eps)
//   W'[i] = W[i] * s[channel of weight element i]
//   b'[e] = (f * b[source of e] - mean[c]) * s[c] + beta[c]      (c = channel of bias element e)
// where f is the producer's own bias multiplier (Gemm beta, else 1) and b = 0 without a bias. All of
// it is computed in float64 and each weight value is rounded once into the weight's dtype
// (bn-folding.md §1.5: rounding after every step, as ORT does for fp16, loses accuracy). The order
// of operations is part of the contract: folded models are pinned by sha256, so neither
// (b - mean) * s + beta nor gamma / sqrt(...) may be rewritten into an algebraically equal form.
//
// Which weight element and bias element belong to which channel is the producer's business
// (fold-producers.ts describes it as a ChannelLayout); this module knows nothing of ONNX nodes.
import { DataType, decodeBfloat16, decodeFloat16, encodeBfloat16, encodeFloat16, floatWidth, overflowsIn } from '@edge-ssd/onnx-io';

/** Layout of the fused bias. */
export interface BiasLayout {
  dims: number[];
  /** Multiplier of the original bias in the producer (Gemm beta), 1 otherwise. */
  factor: number;
  /** Channel of fused-bias element e. */
  channelOf(e: number): number;
  /** Index of the original bias element feeding fused-bias element e, or -1 when there is none. */
  sourceOf(e: number): number;
}

/** Where the producer's output channels are in its weight and bias. */
export interface ChannelLayout {
  /**
   * The weight (row-major) as consecutive runs of `runLength` elements, each on one channel: run r
   * (elements [r * runLength, (r + 1) * runLength)) is on channel channelOfRun(r).
   */
  runLength: number;
  channelOfRun(run: number): number;
  bias: BiasLayout;
}

export interface ChannelFoldInput {
  /** BatchNormalization scale, B, mean and var: one value per output channel. */
  gamma: Float64Array;
  beta: Float64Array;
  mean: Float64Array;
  variance: Float64Array;
  epsilon: number;
  layout: ChannelLayout;
  /**
   * Weight elements as stored: little-endian `weightType` (FLOAT, FLOAT16, BFLOAT16 or DOUBLE).
   * May be a window of the weight that starts at element `firstElement`, so that a large weight can
   * be streamed through the fold without being held whole.
   */
  weight: Uint8Array;
  weightType: number;
  firstElement?: number;
  /** The producer's bias values; absent when it has none. */
  bias?: Float64Array;
  /** The dtype the fused bias will be stored in (values that overflow it are a problem). */
  biasType: number;
}

export interface ChannelFold {
  /** s[c] per output channel. */
  scale: Float64Array;
  /** W' for the elements of the input window, in the weight's dtype. */
  weight: Uint8Array;
  /** b' in float64, shaped by layout.bias.dims; each value fits biasType. */
  bias: Float64Array;
}

/** Why the fold has no representable result: the first offending channel, index or value. */
export type FoldProblem =
  | { problem: 'variance-not-positive'; channel: number; denominator: number }
  | { problem: 'scale-not-finite'; channel: number }
  | { problem: 'bias-input-not-finite'; index: number }
  | { problem: 'bias-not-finite'; channel: number }
  | { problem: 'bias-overflow'; value: number }
  | { problem: 'weight-overflow'; value: number };

/**
 * Folds BN statistics into a producer's weight (window) and bias: returns s, W' and b', or the first
 * reason they cannot be represented. Pure: the inputs are not modified.
 */
export function foldChannels(input: ChannelFoldInput): ChannelFold | FoldProblem {
  const { gamma, beta, mean, variance, layout } = input;
  const C = gamma.length;
  if (beta.length !== C || mean.length !== C || variance.length !== C) {
    throw new RangeError(`BN vectors of different lengths: ${[C, beta.length, mean.length, variance.length].join(', ')}`);
  }
  const width = floatWidth(input.weightType);
  if (input.weight.byteLength % width !== 0) throw new RangeError(`a weight of ${input.weight.byteLength} bytes is not a whole number of ${width}-byte elements`);

  const scale = new Float64Array(C);
  for (let c = 0; c < C; c++) {
    const denom = variance[c] + input.epsilon;
    if (!(denom > 0) || !Number.isFinite(denom)) return { problem: 'variance-not-positive', channel: c, denominator: denom };
    scale[c] = gamma[c] / Math.sqrt(denom);
    if (!Number.isFinite(scale[c])) return { problem: 'scale-not-finite', channel: c };
  }

  const b = input.bias;
  const bl = layout.bias;
  const bias = new Float64Array(bl.dims.reduce((p, d) => p * d, 1));
  for (let e = 0; e < bias.length; e++) {
    const c = bl.channelOf(e);
    const src = bl.sourceOf(e);
    const old = src >= 0 && b ? bl.factor * b[src] : 0;
    if (!Number.isFinite(old)) return { problem: 'bias-input-not-finite', index: src };
    const v = (old - mean[c]) * scale[c] + beta[c];
    if (!Number.isFinite(v)) return { problem: 'bias-not-finite', channel: c };
    if (overflowsIn(v, input.biasType)) return { problem: 'bias-overflow', value: v };
    bias[e] = v;
  }

  const weight = input.weight.slice();
  const bad = scaleInPlace(weight, input.firstElement ?? 0, input.weightType, layout, scale);
  if (bad !== undefined) return { problem: 'weight-overflow', value: bad };
  return { scale, weight, bias };
}

/**
 * W'[i] = W[i] * s[channel of i] in place, for elements `first`.. of the weight, each rounded once
 * into the dtype. Returns the first finite value that overflows the dtype, else undefined. One
 * factor per run, so the inner loops make no per-element calls into the layout.
 */
function scaleInPlace(bytes: Uint8Array, first: number, dataType: number, layout: ChannelLayout, s: Float64Array): number | undefined {
  // Locals, not globals, in the loops: a global lookup per element is slow in a vm context (jest).
  const { fround } = Math;
  const { isFinite } = Number;
  const width = floatWidth(dataType);
  const n = bytes.byteLength / width;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const L = layout.runLength;
  let bad: number | undefined;
  for (let i = 0; i < n; ) {
    const run = Math.floor((first + i) / L);
    const end = Math.min(n, (run + 1) * L - first);
    const f = s[layout.channelOfRun(run)];
    switch (dataType) {
      case DataType.FLOAT:
        for (; i < end; i++) {
          const v = view.getFloat32(i * 4, true) * f;
          view.setFloat32(i * 4, v, true);
          if (bad === undefined && !isFinite(fround(v)) && isFinite(v)) bad = v;
        }
        break;
      case DataType.DOUBLE:
        for (; i < end; i++) view.setFloat64(i * 8, view.getFloat64(i * 8, true) * f, true);
        break;
      default: {
        const half = dataType === DataType.FLOAT16;
        for (; i < end; i++) {
          const bits = view.getUint16(i * 2, true);
          const v = (half ? decodeFloat16(bits) : decodeBfloat16(bits)) * f;
          if (bad === undefined && overflowsIn(v, dataType)) bad = v;
          view.setUint16(i * 2, half ? encodeFloat16(v) : encodeBfloat16(v), true);
        }
      }
    }
  }
  return bad;
}
