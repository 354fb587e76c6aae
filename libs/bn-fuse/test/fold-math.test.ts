// foldChannels, the fold's arithmetic, tested directly: hand-computed values; every producer layout
// against an index-by-index float64 reference (explicit ONNX weight indexing, not the layouts'
// channel runs) and against evaluating the producer followed by the BN; each storage dtype's
// rounding; the statistics it refuses; and windows giving the bytes of the whole weight.
import { DataType, GraphBuilder, decodeBfloat16, decodeFloat16, encodeBfloat16, encodeFloat16 } from '@edge-ssd/onnx-io';
import { Prng } from '@edge-ssd/prng';
import { ChannelFold, ChannelFoldInput, FoldProblem, foldChannels } from '../src/fold-math';
import { FOLD_PRODUCERS, ProducerLayout } from '../src/fold-producers';

const WIDTH: Record<number, number> = { [DataType.FLOAT]: 4, [DataType.DOUBLE]: 8, [DataType.FLOAT16]: 2, [DataType.BFLOAT16]: 2 };

function encode(values: ArrayLike<number>, dataType: number): Uint8Array {
  const out = new Uint8Array(values.length * WIDTH[dataType]);
  const view = new DataView(out.buffer);
  for (let i = 0; i < values.length; i++) {
    if (dataType === DataType.FLOAT) view.setFloat32(i * 4, values[i], true);
    else if (dataType === DataType.DOUBLE) view.setFloat64(i * 8, values[i], true);
    else view.setUint16(i * 2, dataType === DataType.FLOAT16 ? encodeFloat16(values[i]) : encodeBfloat16(values[i]), true);
  }
  return out;
}

function decode(bytes: Uint8Array, dataType: number): number[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return Array.from({ length: bytes.byteLength / WIDTH[dataType] }, (_, i) => {
    if (dataType === DataType.FLOAT) return view.getFloat32(i * 4, true);
    if (dataType === DataType.DOUBLE) return view.getFloat64(i * 8, true);
    const bits = view.getUint16(i * 2, true);
    return dataType === DataType.FLOAT16 ? decodeFloat16(bits) : decodeBfloat16(bits);
  });
}

function bits16(bytes: Uint8Array): number[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return Array.from({ length: bytes.byteLength / 2 }, (_, i) => view.getUint16(i * 2, true));
}

/** The layout the product uses for this producer node. */
function layoutOf(op: string, dims: number[], biasDims: number[] | undefined, attrs: Record<string, number | { float: number }> = {}): ProducerLayout {
  const b = new GraphBuilder('t');
  b.input('A', []);
  b.input('W', dims);
  const node = b.node(op, ['A', 'W'], ['y'], attrs, 'prod');
  const layout = FOLD_PRODUCERS[op].layout(node, dims, biasDims, { opset: 17, weightType: DataType.DOUBLE, rankOf: () => 2 });
  if ('code' in layout) throw new Error(`${op} layout refused: ${layout.reason}`);
  return layout;
}

interface Stats {
  gamma: number[];
  beta: number[];
  mean: number[];
  variance: number[];
  epsilon: number;
}

function input(stats: Stats, layout: ProducerLayout, weight: number[], weightType: number, bias?: number[], biasType = weightType): ChannelFoldInput {
  return {
    gamma: Float64Array.from(stats.gamma),
    beta: Float64Array.from(stats.beta),
    mean: Float64Array.from(stats.mean),
    variance: Float64Array.from(stats.variance),
    epsilon: stats.epsilon,
    layout,
    weight: encode(weight, weightType),
    weightType,
    bias: bias && Float64Array.from(bias),
    biasType,
  };
}

function folded(r: ChannelFold | FoldProblem): ChannelFold {
  if ('problem' in r) throw new Error(`unexpected problem ${JSON.stringify(r)}`);
  return r;
}

function problem(r: ChannelFold | FoldProblem): FoldProblem {
  if (!('problem' in r)) throw new Error('expected a problem, the fold succeeded');
  return r;
}

describe('foldChannels: hand-computed values', () => {
  // Conv W [2, 1, 1, 2]; var + eps = 4 and 16, so s = [2 / 2, -1 / 4] = [1, -0.25].
  const stats: Stats = { gamma: [2, -1], beta: [1, 3], mean: [0.5, 2], variance: [3, 15], epsilon: 1 };
  const layout = layoutOf('Conv', [2, 1, 1, 2], [2]);

  it('computes s = gamma / sqrt(var + eps), W * s per output channel and (b - mean) * s + beta', () => {
    const r = folded(foldChannels(input(stats, layout, [1, 2, 3, 4], DataType.FLOAT, [1.5, -2])));
    expect(Array.from(r.scale)).toEqual([1, -0.25]);
    expect(decode(r.weight, DataType.FLOAT)).toEqual([1, 2, -0.75, -1]);
    // (1.5 - 0.5) * 1 + 1 = 2; (-2 - 2) * -0.25 + 3 = 4
    expect(Array.from(r.bias)).toEqual([2, 4]);
  });

  it('treats an absent bias as zero: b = -mean * s + beta, the same as an explicit zero bias', () => {
    const noBias = layoutOf('Conv', [2, 1, 1, 2], undefined);
    const absent = folded(foldChannels(input(stats, noBias, [1, 2, 3, 4], DataType.FLOAT)));
    expect(Array.from(absent.bias)).toEqual([0.5, 3.5]); // (0 - 0.5) * 1 + 1; (0 - 2) * -0.25 + 3
    const zero = folded(foldChannels(input(stats, layout, [1, 2, 3, 4], DataType.FLOAT, [0, 0])));
    expect(Array.from(zero.bias)).toEqual(Array.from(absent.bias));
    expect(Buffer.from(zero.weight).equals(Buffer.from(absent.weight))).toBe(true);
  });

  it('a negative gamma flips the sign of the channel: weights and the bias term', () => {
    const flipped = { ...stats, gamma: [-2, 1] };
    const r = folded(foldChannels(input(flipped, layout, [1, 2, 3, 4], DataType.FLOAT, [1.5, -2])));
    expect(Array.from(r.scale)).toEqual([-1, 0.25]);
    expect(decode(r.weight, DataType.FLOAT)).toEqual([-1, -2, 0.75, 1]);
    expect(Array.from(r.bias)).toEqual([0, 2]); // (1.5 - 0.5) * -1 + 1; (-2 - 2) * 0.25 + 3
  });

  it('a zero or tiny variance folds to the large scale gamma / sqrt(eps)', () => {
    const tiny = { gamma: [1, 1], beta: [0, 0], mean: [0, 0], variance: [0, 1e-30], epsilon: Math.fround(1e-5) };
    const r = folded(foldChannels(input(tiny, layout, [1, -1, 0.5, 2], DataType.FLOAT, [0.25, 0])));
    const s0 = 1 / Math.sqrt(Math.fround(1e-5));
    const s1 = 1 / Math.sqrt(1e-30 + Math.fround(1e-5));
    expect(Array.from(r.scale)).toEqual([s0, s1]);
    expect(r.scale[0]).toBeCloseTo(316.2278, 3);
    expect(decode(r.weight, DataType.FLOAT)).toEqual([Math.fround(s0), Math.fround(-s0), Math.fround(0.5 * s1), Math.fround(2 * s1)]);
    expect(r.bias[0]).toBe(0.25 * s0);
  });

  it('does not modify its inputs', () => {
    const i = input(stats, layout, [1, 2, 3, 4], DataType.FLOAT, [1.5, -2]);
    const before = Buffer.from(i.weight);
    const bias = Array.from(i.bias ?? []);
    folded(foldChannels(i));
    expect(Buffer.from(i.weight).equals(before)).toBe(true);
    expect(Array.from(i.bias ?? [])).toEqual(bias);
  });
});

// ---------------------------------------------------------------------------------------------
// Every producer layout, on random data.

const rng = new Prng(2024);
const rand = (n: number, lo = -1, hi = 1) => Array.from({ length: n }, () => rng.uniform(lo, hi));
const size = (dims: number[]) => dims.reduce((p, d) => p * d, 1);

interface LayoutCase {
  name: string;
  op: 'Conv' | 'ConvTranspose' | 'Gemm' | 'MatMul';
  dims: number[];
  biasDims?: number[];
  group?: number;
  transB?: boolean;
  alpha?: number;
  beta?: number;
}

const CASES: LayoutCase[] = [
  { name: 'Conv OIHW [M, C, kh, kw], with bias', op: 'Conv', dims: [6, 4, 3, 3], biasDims: [6] },
  { name: 'Conv grouped (group 2, C_in 4)', op: 'Conv', dims: [6, 2, 3, 3], biasDims: [6], group: 2 },
  { name: 'Conv depthwise (group = C = 6), no bias', op: 'Conv', dims: [6, 1, 3, 3], group: 6 },
  { name: 'ConvTranspose IOHW [C_in, M, kh, kw], group 1', op: 'ConvTranspose', dims: [4, 6, 2, 2], biasDims: [6] },
  { name: 'ConvTranspose group 2 (C_in 4, M 6)', op: 'ConvTranspose', dims: [4, 3, 2, 2], biasDims: [6], group: 2 },
  { name: 'ConvTranspose group 3 (C_in 6, M 9), no bias', op: 'ConvTranspose', dims: [6, 3, 2, 2], group: 3 },
  { name: 'ConvTranspose depthwise (group = C_in = M = 4)', op: 'ConvTranspose', dims: [4, 1, 3, 3], biasDims: [4], group: 4 },
  { name: 'Gemm transB 0, B [K, N], C [N], beta 0.5', op: 'Gemm', dims: [5, 6], biasDims: [6], beta: 0.5 },
  { name: 'Gemm transB 1, B [N, K], C [M, N], alpha 0.7, beta -1.5', op: 'Gemm', dims: [6, 5], biasDims: [3, 6], transB: true, alpha: 0.7, beta: -1.5 },
  { name: 'Gemm transB 0, C [M, 1] (expanded to [M, N])', op: 'Gemm', dims: [5, 6], biasDims: [3, 1] },
  { name: 'Gemm transB 1, C [1, N]', op: 'Gemm', dims: [6, 5], biasDims: [1, 6], transB: true },
  { name: 'Gemm transB 1, scalar C, beta 2', op: 'Gemm', dims: [6, 5], biasDims: [], transB: true, beta: 2 },
  { name: 'Gemm transB 0, no C', op: 'Gemm', dims: [5, 6] },
  { name: 'MatMul W [K, N] (becomes Gemm)', op: 'MatMul', dims: [5, 6] },
];

/** Rows of the Gemm/MatMul input (M), matching the [M, N] / [M, 1] C shapes above. */
const ROWS = 3;

function caseLayout(c: LayoutCase): ProducerLayout {
  const attrs: Record<string, number | { float: number }> = {};
  if (c.group) attrs.group = c.group;
  if (c.transB) attrs.transB = 1;
  if (c.alpha !== undefined) attrs.alpha = { float: c.alpha };
  if (c.beta !== undefined) attrs.beta = { float: c.beta };
  return layoutOf(c.op, c.dims, c.biasDims, attrs);
}

function channelsOf(c: LayoutCase): number {
  if (c.op === 'Conv') return c.dims[0];
  if (c.op === 'ConvTranspose') return c.dims[1] * (c.group ?? 1);
  return c.transB ? c.dims[0] : c.dims[1];
}

/** Output channel of every weight element, by explicit ONNX indexing. */
function weightChannels(c: LayoutCase): number[] {
  const channel: number[] = [];
  const inner = (from: number) => size(c.dims.slice(from));
  if (c.op === 'Conv') {
    for (let m = 0; m < c.dims[0]; m++) for (let k = 0; k < inner(1); k++) channel.push(m);
  } else if (c.op === 'ConvTranspose') {
    // W [C_in, M/g, k...] seen as [g, C_in/g, M/g, k...]: element (gi, i, j, k) feeds gi * (M/g) + j.
    const g = c.group ?? 1;
    const [cin, mg] = c.dims;
    for (let gi = 0; gi < g; gi++) for (let i = 0; i < cin / g; i++) for (let j = 0; j < mg; j++) for (let k = 0; k < inner(2); k++) channel.push(gi * mg + j);
  } else {
    const [rows, cols] = c.dims;
    for (let r = 0; r < rows; r++) for (let col = 0; col < cols; col++) channel.push(c.transB ? r : col);
  }
  return channel;
}

/** The fused bias by explicit broadcasting of the producer's bias: its values and dims. */
function referenceBias(c: LayoutCase, bias: number[] | undefined, stats: Stats, s: number[]): { values: number[]; dims: number[] } {
  const N = channelsOf(c);
  const f = c.op === 'Gemm' ? Math.fround(c.beta ?? 1) : 1;
  const bd = c.biasDims;
  if (bd && bd.length === 2) {
    const [rows, cols] = bd;
    const values: number[] = [];
    for (let r = 0; r < rows; r++) for (let n = 0; n < N; n++) values.push((f * (bias as number[])[r * cols + (cols === 1 ? 0 : n)] - stats.mean[n]) * s[n] + stats.beta[n]);
    return { values, dims: [rows, N] };
  }
  const b = (n: number) => (bias === undefined ? 0 : f * bias[bd && bd.length === 0 ? 0 : n]);
  return { values: Array.from({ length: N }, (_, n) => (b(n) - stats.mean[n]) * s[n] + stats.beta[n]), dims: [N] };
}

function randomStats(C: number): Stats {
  return {
    gamma: rand(C, 0.2, 1.5).map((g, c) => (c % 3 === 0 ? -g : g)),
    beta: rand(C),
    mean: rand(C),
    variance: rand(C, 0.1, 3).map((v, c) => (c === 1 ? 1e-4 : v)),
    epsilon: Math.fround(1e-3),
  };
}

describe.each(CASES)('foldChannels with the $name layout', (c) => {
  const layout = caseLayout(c);
  const C = channelsOf(c);
  const stats = randomStats(C);
  const W = rand(size(c.dims));
  const bias = c.biasDims ? rand(size(c.biasDims)) : undefined;
  const s = stats.gamma.map((g, ch) => g / Math.sqrt(stats.variance[ch] + stats.epsilon));

  it('has one output channel per BN channel', () => {
    expect(layout.channels).toBe(C);
  });

  it('float64: W and b equal the index-by-index float64 reference exactly', () => {
    const r = folded(foldChannels(input(stats, layout, W, DataType.DOUBLE, bias)));
    const channel = weightChannels(c);
    expect(Array.from(r.scale)).toEqual(s);
    expect(decode(r.weight, DataType.DOUBLE)).toEqual(W.map((w, i) => w * s[channel[i]]));
    const ref = referenceBias(c, bias, stats, s);
    expect(layout.bias.dims).toEqual(ref.dims);
    expect(Array.from(r.bias)).toEqual(ref.values);
  });

  it('float32: each W value is the float64 product rounded once to float32', () => {
    const w32 = W.map(Math.fround);
    const r = folded(foldChannels(input(stats, layout, w32, DataType.FLOAT, bias)));
    const channel = weightChannels(c);
    expect(decode(r.weight, DataType.FLOAT)).toEqual(w32.map((w, i) => Math.fround(w * s[channel[i]])));
  });

  it('the folded producer computes what the producer followed by the BN computes', () => {
    const r = folded(foldChannels(input(stats, layout, W, DataType.DOUBLE, bias)));
    const x = rand(inputSize(c));
    const before = evaluate(c, x, W, bias, c.biasDims, c.alpha ?? 1, c.beta ?? 1);
    const expected = before.y.map((y, i) => {
      const ch = before.channel[i];
      return ((y - stats.mean[ch]) / Math.sqrt(stats.variance[ch] + stats.epsilon)) * stats.gamma[ch] + stats.beta[ch];
    });
    // Folded: the Gemm gets beta = 1 (C' absorbs beta), a MatMul becomes Gemm(A, W', C').
    const after = evaluate(c, x, decode(r.weight, DataType.DOUBLE), Array.from(r.bias), layout.bias.dims, c.alpha ?? 1, 1);
    expect(after.channel).toEqual(before.channel);
    const worst = Math.max(...after.y.map((y, i) => Math.abs(y - expected[i]) / (1 + Math.abs(expected[i]))));
    expect(worst).toBeLessThan(1e-12);
  });
});

function inputSize(c: LayoutCase): number {
  if (c.op === 'Conv') return c.dims[1] * (c.group ?? 1) * size(c.dims.slice(2));
  if (c.op === 'ConvTranspose') return c.dims[0];
  return ROWS * (c.transB ? c.dims[1] : c.dims[0]);
}

/**
 * The producer on one input in float64, as the ONNX operator defines it: Conv on a single kernel-
 * sized patch (one output pixel), ConvTranspose on a single input pixel (one kernel-sized output
 * patch), Gemm/MatMul on an [M, K] input. Returns every output value with its channel.
 */
function evaluate(c: LayoutCase, x: number[], W: number[], bias: number[] | undefined, biasDims: number[] | undefined, alpha: number, beta: number): { y: number[]; channel: number[] } {
  const y: number[] = [];
  const channel: number[] = [];
  const g = c.group ?? 1;
  if (c.op === 'Conv') {
    const [M, cg] = c.dims;
    const P = size(c.dims.slice(2));
    for (let m = 0; m < M; m++) {
      const group = Math.floor(m / (M / g));
      let acc = bias ? bias[m] : 0;
      for (let ci = 0; ci < cg; ci++) for (let p = 0; p < P; p++) acc += W[(m * cg + ci) * P + p] * x[(group * cg + ci) * P + p];
      y.push(acc);
      channel.push(m);
    }
  } else if (c.op === 'ConvTranspose') {
    const [cin, mg] = c.dims;
    const P = size(c.dims.slice(2));
    const perGroup = cin / g;
    for (let o = 0; o < mg * g; o++) {
      const group = Math.floor(o / mg);
      const j = o % mg;
      for (let p = 0; p < P; p++) {
        let acc = bias ? bias[o] : 0;
        for (let i = group * perGroup; i < (group + 1) * perGroup; i++) acc += x[i] * W[(i * mg + j) * P + p];
        y.push(acc);
        channel.push(o);
      }
    }
  } else {
    const K = c.transB ? c.dims[1] : c.dims[0];
    const N = c.transB ? c.dims[0] : c.dims[1];
    const b = (k: number, n: number) => (c.transB ? W[n * K + k] : W[k * N + n]);
    for (let r = 0; r < ROWS; r++) {
      for (let n = 0; n < N; n++) {
        let acc = 0;
        for (let k = 0; k < K; k++) acc += x[r * K + k] * b(k, n);
        let cValue = 0;
        if (bias && biasDims) {
          const rows = biasDims.length === 2 ? biasDims[0] : 1;
          const cols = biasDims.length === 0 ? 1 : biasDims[biasDims.length - 1];
          cValue = bias[(rows === 1 ? 0 : r) * cols + (cols === 1 ? 0 : n)];
        }
        y.push(alpha * acc + beta * cValue);
        channel.push(n);
      }
    }
  }
  return { y, channel };
}

// ---------------------------------------------------------------------------------------------

describe('foldChannels: storage dtypes round once, from the float64 product', () => {
  const layout = layoutOf('Conv', [1, 1, 1, 1], undefined);
  // var + eps = 1, so s = gamma exactly.
  const withScale = (s: number): Stats => ({ gamma: [s], beta: [0], mean: [0], variance: [1], epsilon: 0 });

  it('float16: 1 * (1 + 2^-11 + 2^-30) rounds up to 1 + 2^-10 (through float32 it would tie down to 1)', () => {
    const s = 1 + 2 ** -11 + 2 ** -30;
    expect(encodeFloat16(Math.fround(s))).toBe(0x3c00); // the double-rounding trap this guards against
    const r = folded(foldChannels(input(withScale(s), layout, [1], DataType.FLOAT16)));
    expect(bits16(r.weight)).toEqual([0x3c01]);
  });

  it('bfloat16: 1 * (1 + 2^-8 + 2^-30) rounds up to 1 + 2^-7 (through float32 it would tie down to 1)', () => {
    const s = 1 + 2 ** -8 + 2 ** -30;
    expect(encodeBfloat16(Math.fround(s))).toBe(0x3f80);
    const r = folded(foldChannels(input(withScale(s), layout, [1], DataType.BFLOAT16)));
    expect(bits16(r.weight)).toEqual([0x3f81]);
  });

  it('float64 keeps the product exactly; float32 rounds it to nearest', () => {
    const s = 1 / 3;
    expect(decode(folded(foldChannels(input(withScale(s), layout, [3], DataType.DOUBLE))).weight, DataType.DOUBLE)).toEqual([3 * s]);
    expect(decode(folded(foldChannels(input(withScale(s), layout, [3], DataType.FLOAT))).weight, DataType.FLOAT)).toEqual([Math.fround(3 * s)]);
  });

  it('the bias stays float64 (the storage rounds it) but must fit its dtype', () => {
    const r = folded(foldChannels(input({ gamma: [1], beta: [1 / 3], mean: [0], variance: [1], epsilon: 0 }, layout, [1], DataType.FLOAT16)));
    expect(Array.from(r.bias)).toEqual([1 / 3]);
  });
});

describe('foldChannels: statistics without a representable fold', () => {
  const layout = layoutOf('Conv', [2, 1, 1, 1], [2]);
  const ok: Stats = { gamma: [1, 1], beta: [0, 0], mean: [0, 0], variance: [1, 1], epsilon: 1e-5 };
  const run = (stats: Partial<Stats>, weightType: number = DataType.FLOAT, weight = [1, 1], bias = [0, 0], biasType = weightType) =>
    foldChannels(input({ ...ok, ...stats }, layout, weight, weightType, bias, biasType));

  it('var + eps that is zero, negative or NaN, naming the first such channel', () => {
    expect(problem(run({ variance: [1, 0], epsilon: 0 }))).toEqual({ problem: 'variance-not-positive', channel: 1, denominator: 0 });
    expect(problem(run({ variance: [-1, 1] }))).toMatchObject({ problem: 'variance-not-positive', channel: 0 });
    expect(problem(run({ variance: [NaN, 1] }))).toMatchObject({ problem: 'variance-not-positive', channel: 0 });
  });

  it('a scale that overflows float64', () => {
    expect(problem(run({ gamma: [1e300, 1], variance: [1e-320, 1], epsilon: 0 }))).toEqual({ problem: 'scale-not-finite', channel: 0 });
  });

  it('a non-finite producer bias, and a fused bias that is not finite or overflows its dtype', () => {
    expect(problem(run({}, DataType.FLOAT, [1, 1], [0, Infinity]))).toEqual({ problem: 'bias-input-not-finite', index: 1 });
    expect(problem(run({ beta: [0, NaN] }))).toEqual({ problem: 'bias-not-finite', channel: 1 });
    expect(problem(run({ beta: [0, 1e5] }, DataType.FLOAT16))).toEqual({ problem: 'bias-overflow', value: 1e5 });
    // The bias dtype decides, not the weight's (BN-15 lets them differ).
    expect(folded(run({ beta: [0, 1e5] }, DataType.FLOAT16, [1, 1], [0, 0], DataType.FLOAT)).bias[1]).toBe(1e5);
  });

  it('a scaled weight that overflows float32, float16 or bfloat16, with the first such value', () => {
    // epsilon 0 and var 1: s = gamma exactly.
    const exact = { variance: [1, 1], epsilon: 0 };
    expect(problem(run({ ...exact, gamma: [2 ** 60, 2 ** 70] }, DataType.FLOAT, [2 ** 70, 2 ** 70]))).toEqual({ problem: 'weight-overflow', value: 2 ** 130 });
    expect(problem(run({ ...exact, gamma: [1, 300] }, DataType.FLOAT16, [1, 300], [0, 0], DataType.FLOAT))).toEqual({ problem: 'weight-overflow', value: 90000 });
    expect(problem(run({ ...exact, gamma: [1, 2 ** 100] }, DataType.BFLOAT16, [1, 2 ** 30], [0, 0], DataType.FLOAT))).toEqual({ problem: 'weight-overflow', value: 2 ** 130 });
    // Just below the float16 maximum (65504) is no problem.
    expect(decode(folded(run({ ...exact, gamma: [1, 2] }, DataType.FLOAT16, [1, 32752], [0, 0], DataType.FLOAT)).weight, DataType.FLOAT16)).toEqual([1, 65504]);
    // float64 has no narrower dtype to overflow into.
    expect(decode(folded(run({ ...exact, gamma: [1, 2 ** 70] }, DataType.DOUBLE, [1, 2 ** 70])).weight, DataType.DOUBLE)).toEqual([1, 2 ** 140]);
  });

  it('BN vectors of different lengths are a caller error', () => {
    expect(() => run({ mean: [0] })).toThrow(RangeError);
  });
});

describe('foldChannels on windows of the weight', () => {
  it.each([
    ['Conv, windows cutting through channel runs', CASES[0]],
    ['grouped ConvTranspose', CASES[4]],
    ['Gemm transB 0 (channel changes every element)', CASES[7]],
  ])('%s: any split gives the bytes of the whole weight', (_name, c) => {
    const layout = caseLayout(c);
    const stats = randomStats(channelsOf(c));
    for (const dataType of [DataType.FLOAT, DataType.FLOAT16]) {
      const whole = input(stats, layout, rand(size(c.dims)), dataType);
      const expected = folded(foldChannels(whole)).weight;
      const width = WIDTH[dataType];
      for (const cut of [1, 5, 7, 16]) {
        const pieces: Uint8Array[] = [];
        for (let first = 0; first * width < whole.weight.byteLength; first += cut) {
          const weight = whole.weight.subarray(first * width, Math.min(whole.weight.byteLength, (first + cut) * width));
          pieces.push(folded(foldChannels({ ...whole, weight, firstElement: first })).weight);
        }
        expect(Buffer.concat(pieces).equals(Buffer.from(expected))).toBe(true);
      }
    }
  });
});
