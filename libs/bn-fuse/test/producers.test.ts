// Folding into every producer (Conv, ConvTranspose, Gemm, MatMul), every BatchNormalization
// version and dtype: each fold is checked three ways: structurally, against an independent float64
// evaluation of the formula (explicit index arithmetic, not the implementation's channel runs), and
// numerically against the unfolded model in onnxruntime with optimizations disabled. Every folded
// model then goes through onnx.checker (full_check) at the end.
import { DataType, ModelProto, NodeProto, decodeModel, encodeModel, makeFloatTensor, readTensorFloat64, tensorDims, valueInfo, withFloatValues } from '@edge-ssd/onnx-io';
import { FoldResult, foldBatchNorm, verifyFold } from '../src';
import { GraphBuilder } from '@edge-ssd/onnx-io';
import { OnnxChecker, ProducerBnOptions, graphOf, initializer, nodeNamed, opTypes, producerBnModel } from '@edge-ssd/onnx-io/testing';
import { foldAndVerify, itWithOnnxChecker } from './helpers';

const checker = new OnnxChecker('producers');
afterAll(() => checker.cleanup());

function attr(node: NodeProto, name: string, fallback: number): number {
  const a = node.attribute.find((x) => x.name === name);
  if (!a) return fallback;
  // FLOAT attributes are float32 on the wire (the in-memory test model holds the unrounded double).
  return a.f !== undefined ? Math.fround(a.f) : Number(a.i);
}

/** W' and b' from the model before folding, by explicit index arithmetic in float64. */
function referenceFold(model: ModelProto): { w: number[]; b: number[]; bDims: number[] } {
  const bn = nodeNamed(model, 'bn');
  const prod = nodeNamed(model, 'prod');
  const read = (name: string) => Array.from(readTensorFloat64(initializer(model, name)));
  const [gamma, beta, mean, variance] = bn.input.slice(1, 5).map(read);
  const eps = attr(bn, 'epsilon', 1e-5);
  const s = gamma.map((g, c) => g / Math.sqrt(variance[c] + eps));
  const W = read(prod.input[1]);
  const dims = tensorDims(initializer(model, prod.input[1]));
  const channel: number[] = new Array(W.length);
  if (prod.op_type === 'Conv') {
    const per = W.length / dims[0];
    for (let i = 0; i < W.length; i++) channel[i] = Math.floor(i / per);
  } else if (prod.op_type === 'ConvTranspose') {
    // View W [C_in, M/g, k...] as [g, C_in/g, M/g, k...]: element (gi, i, j, k) feeds output gi*(M/g)+j.
    const g = attr(prod, 'group', 1);
    const [cin, mg] = dims;
    const kernel = dims.slice(2).reduce((p, d) => p * d, 1);
    for (let gi = 0; gi < g; gi++)
      for (let i = 0; i < cin / g; i++)
        for (let j = 0; j < mg; j++)
          for (let k = 0; k < kernel; k++) channel[((gi * (cin / g) + i) * mg + j) * kernel + k] = gi * mg + j;
  } else if (prod.op_type === 'Gemm' && attr(prod, 'transB', 0) === 1) {
    for (let i = 0; i < W.length; i++) channel[i] = Math.floor(i / dims[1]);
  } else {
    for (let i = 0; i < W.length; i++) channel[i] = i % dims[1];
  }
  const w = W.map((v, i) => v * s[channel[i]]);
  const C = gamma.length;
  if (prod.op_type !== 'Gemm') {
    const bias = prod.input[2] ? read(prod.input[2]) : gamma.map(() => 0);
    return { w, b: bias.map((v, c) => (v - mean[c]) * s[c] + beta[c]), bDims: [C] };
  }
  const betaG = attr(prod, 'beta', 1);
  const cName = prod.input[2];
  const cDims = cName ? tensorDims(initializer(model, cName)) : [C];
  const cVals = cName ? read(cName) : new Array(C).fill(0);
  const rows = cDims.length === 2 ? cDims[0] : 1;
  const cols = cDims.length === 0 ? 1 : cDims[cDims.length - 1];
  const b: number[] = [];
  for (let r = 0; r < rows; r++) {
    for (let n = 0; n < C; n++) {
      const c = cVals[(rows === 1 ? 0 : r) * cols + (cols === 1 ? 0 : n)];
      b.push((betaG * c - mean[n]) * s[n] + beta[n]);
    }
  }
  return { w, b, bDims: cDims.length === 2 ? [rows, C] : [C] };
}

function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, rtol: number): void {
  expect(actual.length).toBe(expected.length);
  let worst = 0;
  for (let i = 0; i < expected.length; i++) worst = Math.max(worst, Math.abs(actual[i] - expected[i]) / (1e-30 + rtol * Math.abs(expected[i])));
  expect(worst).toBeLessThanOrEqual(1);
}

function fusedTensors(result: FoldResult): { w: Float64Array; b: Float64Array; bDims: number[] } {
  const node = nodeNamed(result.model, 'prod');
  const b = initializer(result.model, node.input[2]);
  return { w: readTensorFloat64(initializer(result.model, node.input[1])), b: readTensorFloat64(b), bDims: tensorDims(b) };
}

const STORAGE_RTOL: Record<number, number> = { [DataType.FLOAT]: 1e-6, [DataType.FLOAT16]: 1e-3, [DataType.DOUBLE]: 1e-12 };

type Case = [string, ProducerBnOptions, { rtol: number; atol: number }?];
const F32 = { rtol: 1e-5, atol: 1e-6 };
const F16 = { rtol: 1e-2, atol: 1e-2 };

describe.each<Case>([
  ['ConvTranspose, group 1, with bias', { op: 'ConvTranspose', bias: true }],
  ['ConvTranspose, group 1, no bias', { op: 'ConvTranspose' }],
  ['ConvTranspose, group 2 (C_in 4, C_out 6), with bias', { op: 'ConvTranspose', cin: 4, cout: 6, group: 2, bias: true }],
  ['ConvTranspose, group 3 (C_in 6, C_out 9), no bias', { op: 'ConvTranspose', cin: 6, cout: 9, group: 3 }],
  ['ConvTranspose, depthwise (group = C_in = C_out = 4)', { op: 'ConvTranspose', cin: 4, cout: 4, group: 4, bias: true }],
  ['Gemm, transB 0, no C', { op: 'Gemm' }],
  ['Gemm, transB 1, no C, beta 3 (unused before)', { op: 'Gemm', transB: true, beta: 3 }],
  ['Gemm, transB 0, C [N]', { op: 'Gemm', bias: true }],
  ['Gemm, transB 1, C [1, N], alpha 2', { op: 'Gemm', transB: true, bias: [1, 6], alpha: 2 }],
  ['Gemm, C scalar, beta 0.5', { op: 'Gemm', bias: [], beta: 0.5 }],
  ['Gemm, transB 1, C [M, N], alpha 0.7, beta -1.5', { op: 'Gemm', transB: true, bias: [3, 6], alpha: 0.7, beta: -1.5 }],
  ['Gemm, C [M, 1] (per-row, expanded)', { op: 'Gemm', bias: [3, 1] }],
  ['Gemm, beta 0 with C', { op: 'Gemm', bias: true, beta: 0 }],
  ['MatMul with a 2-D input (becomes Gemm)', { op: 'MatMul' }],
  ['Conv float16 with float32 statistics (BN-15)', { op: 'Conv', bias: true, dataType: DataType.FLOAT16, statsType: DataType.FLOAT, opset: 15 }, F16],
  ['ConvTranspose float16, group 2', { op: 'ConvTranspose', cin: 4, cout: 6, group: 2, dataType: DataType.FLOAT16 }, F16],
  ['Gemm float16, transB 1, C [N]', { op: 'Gemm', transB: true, bias: true, dataType: DataType.FLOAT16 }, F16],
  ['Gemm float64, C [1, N]', { op: 'Gemm', bias: [1, 6], dataType: DataType.DOUBLE, opset: 15 }, { rtol: 1e-12, atol: 1e-12 }],
  ['Gemm float16 with float32 statistics (BN-15)', { op: 'Gemm', bias: true, dataType: DataType.FLOAT16, statsType: DataType.FLOAT, opset: 15 }, F16],
  ['MatMul float64', { op: 'MatMul', dataType: DataType.DOUBLE }, { rtol: 1e-12, atol: 1e-12 }],
  ['Conv, BatchNormalization-7 (opset 7, IR 3, spatial=1)', { op: 'Conv', bias: true, opset: 7, bnAttributes: { spatial: 1 } }],
  ['Conv, BatchNormalization-9 (opset 9), no epsilon attribute', { op: 'Conv', opset: 9, epsilon: null }],
  ['Gemm, BatchNormalization-14 with training_mode=0', { op: 'Gemm', bias: true, opset: 14, bnAttributes: { training_mode: 0 } }],
  ['ConvTranspose, BatchNormalization-15 (opset 21)', { op: 'ConvTranspose', group: 2, opset: 21 }],
])('%s', (name, options, tolerance = F32) => {
  let model: ModelProto;
  let result: FoldResult;
  let after: Uint8Array;

  beforeAll(async () => {
    model = producerBnModel(options);
    const run = await foldAndVerify(model, tolerance);
    result = run.result;
    after = run.after;
    expect(run.verification.error).toBeUndefined();
    expect(run.verification.outputs.map((o) => o.name)).toEqual(['y']);
    expect(run.verification.ok).toBe(true);
    checker.add(name, after);
  });

  it('folds the BN into the producer, which takes over the output name', () => {
    expect(result.report).toMatchObject({ batchNormFound: 1, batchNormFolded: 1, batchNormLeft: 0 });
    const expectedOp = options.op === 'MatMul' ? 'Gemm' : options.op;
    expect(opTypes(result.model)).toEqual([expectedOp]);
    expect(nodeNamed(result.model, 'prod').output).toEqual(['y']);
    expect(result.report.folded[0]).toMatchObject({ batchNorm: 'bn', producer: 'prod', producerOp: options.op, channels: options.cout ?? 6 });
    // Graph inputs unchanged (IR < 4: initializers are listed as inputs and follow the initializers).
    const inputs = graphOf(result.model).input.map((v) => v.name);
    const inits = graphOf(result.model).initializer.map((t) => t.name);
    expect(inputs).toEqual(Number(model.ir_version) < 4 ? ['X', ...inits] : ['X']);
  });

  it('stores W and b equal to a float64 evaluation of the formula, in the weight dtype', () => {
    const ref = referenceFold(model);
    const got = fusedTensors(result);
    const dt = options.dataType ?? DataType.FLOAT;
    expect(initializer(result.model, nodeNamed(result.model, 'prod').input[1]).data_type).toBe(dt);
    expect(got.bDims).toEqual(ref.bDims);
    expectClose(got.w, ref.w, STORAGE_RTOL[dt]);
    expectClose(got.b, ref.b, STORAGE_RTOL[dt]);
  });

  it('is idempotent: folding the result again changes no byte', () => {
    const again = foldBatchNorm(decodeModel(after));
    expect(again.report.batchNormFound).toBe(0);
    expect(Buffer.from(encodeModel(again.model)).equals(Buffer.from(after))).toBe(true);
  });
});

describe('Gemm attributes after the fold', () => {
  it('sets beta to 1 once beta is folded into C, keeps alpha and transB', () => {
    const result = foldBatchNorm(producerBnModel({ op: 'Gemm', transB: true, bias: [3, 6], alpha: 0.7, beta: -1.5 }));
    const gemm = nodeNamed(result.model, 'prod');
    expect(attr(gemm, 'beta', NaN)).toBe(1);
    expect(attr(gemm, 'alpha', NaN)).toBeCloseTo(0.7, 6);
    expect(attr(gemm, 'transB', NaN)).toBe(1);
    expect(result.report.notes.join('\n')).toContain('beta=-1.5 folded into C');
  });

  it('MatMul becomes a plain Gemm (no attributes) with a new C', () => {
    const result = foldBatchNorm(producerBnModel({ op: 'MatMul' }));
    const gemm = nodeNamed(result.model, 'prod');
    expect(gemm).toMatchObject({ op_type: 'Gemm', input: ['X', 'W_bnfused', 'prod_bias_bnfused'], output: ['y'], attribute: [], metadata_props: [] });
    expect(result.report.notes.join('\n')).toContain('MatMul rewritten to Gemm');
  });
});

describe('grouped ConvTranspose: the output channel of W[i, j] is group(i) * (M/group) + j', () => {
  it('a fold that scales axis 1 alone (PyTorch transpose=True, merge_bn.py) fails verification', async () => {
    const model = producerBnModel({ op: 'ConvTranspose', cin: 4, cout: 6, group: 2, bias: true });
    const good = foldBatchNorm(model);
    // Rebuild W' the naive way: element (i, j, ...) scaled by s[j], ignoring the group.
    const bn = nodeNamed(model, 'bn');
    const read = (n: string) => readTensorFloat64(initializer(model, n));
    const [gamma, , , variance] = bn.input.slice(1, 5).map(read);
    const s = Array.from(gamma, (g, c) => g / Math.sqrt(variance[c] + 1e-3));
    const W = read('W');
    const naive = Array.from(W, (v, i) => v * s[Math.floor(i / 9) % 3]);
    const bad = decodeModel(encodeModel(good.model));
    const g = graphOf(bad);
    const wName = nodeNamed(bad, 'prod').input[1];
    g.initializer = g.initializer.map((t) => (t.name === wName ? withFloatValues(t, naive) : t));
    const before = encodeModel(model);
    expect((await verifyFold(before, encodeModel(good.model))).ok).toBe(true);
    expect((await verifyFold(before, encodeModel(bad))).ok).toBe(false);
  });
});

describe('MatMul folds only when BN normalises its output feature axis', () => {
  it('folds behind a Flatten (input rank 2 derived from the producer)', async () => {
    const b = new GraphBuilder('flatten-matmul');
    b.input('X', ['N', 2, 2, 2]);
    b.node('Flatten', ['X'], ['flat'], {}, 'flatten');
    b.initializer(makeFloatTensor('W', [8, 5], Array.from({ length: 40 }, (_, i) => Math.cos(i))));
    b.node('MatMul', ['flat', 'W'], ['mm'], {}, 'prod');
    const vectors: Record<string, number[]> = { s: [1.5, -0.7, 2, 0.3, 1], b: [0.25, -1, 0.5, 0, 2], m: [-0.5, 0.5, 1, -2, 0.1], v: [2, 0.01, 0.5, 1, 4] };
    for (const [n, v] of Object.entries(vectors)) b.initializer(makeFloatTensor(`bn_${n}`, [5], v));
    b.node('BatchNormalization', ['mm', 'bn_s', 'bn_b', 'bn_m', 'bn_v'], ['y'], { epsilon: { float: 1e-5 } }, 'bn');
    b.output('y', ['N', 5]);
    const model = b.model({ irVersion: 8, opsetVersion: 17 });
    const run = await foldAndVerify(model);
    expect(run.result.report.left).toEqual([]);
    expect(run.result.report.batchNormFolded).toBe(1);
    expect(opTypes(run.result.model)).toEqual(['Flatten', 'Gemm']);
    expect(run.verification.ok).toBe(true);
    checker.add('flatten-matmul', run.after);
  });

  function leftCode(model: ModelProto): string {
    const result = foldBatchNorm(model);
    expect(result.report.batchNormFolded).toBe(0);
    expect(Buffer.from(encodeModel(result.model)).equals(Buffer.from(encodeModel(model)))).toBe(true);
    return `${result.report.left[0].code}: ${result.report.left[0].reason}`;
  }

  it('leaves it for a 3-D input, where BN channel axis 1 is not the feature axis', () => {
    const b = new GraphBuilder('matmul-3d');
    b.input('X', [2, 4, 3]);
    b.initializer(makeFloatTensor('W', [3, 4], Array.from({ length: 12 }, (_, i) => i / 7)));
    b.node('MatMul', ['X', 'W'], ['mm'], {}, 'prod');
    for (const n of ['s', 'b', 'm', 'v']) b.initializer(makeFloatTensor(`bn_${n}`, [4], [1, 2, 3, 4]));
    b.node('BatchNormalization', ['mm', 'bn_s', 'bn_b', 'bn_m', 'bn_v'], ['y'], {}, 'bn');
    b.output('y', [2, 4, 4]);
    expect(leftCode(b.model({ irVersion: 8, opsetVersion: 17 }))).toMatch(/^unsupported-layout: .*rank 3/);
  });

  it('leaves it when the input rank is unknown', () => {
    const m = producerBnModel({ op: 'MatMul' });
    graphOf(m).input[0] = { name: 'X', type: { tensor_type: { elem_type: DataType.FLOAT } }, metadata_props: [] };
    expect(leftCode(m)).toMatch(/^unsupported-layout: rank of MatMul input 'X' is unknown/);
  });

  it('leaves it when the constant is the first MatMul input', () => {
    const m = producerBnModel({ op: 'MatMul', cin: 6, cout: 6 });
    nodeNamed(m, 'prod').input = ['W', 'X'];
    expect(leftCode(m)).toMatch(/^non-constant-input: weight 'X' is a graph input/);
  });
});

describe('refusals: the BN stays and the model is unchanged', () => {
  function expectLeft(model: ModelProto, code: string, reason: RegExp): void {
    const result = foldBatchNorm(model);
    expect(result.report.batchNormFolded).toBe(0);
    expect(result.report.left[0]).toMatchObject({ batchNorm: 'bn', code });
    expect(result.report.left[0].reason).toMatch(reason);
    expect(Buffer.from(encodeModel(result.model)).equals(Buffer.from(encodeModel(model)))).toBe(true);
  }

  it('Gemm whose C is a graph input', () => {
    const m = producerBnModel({ op: 'Gemm', bias: true });
    const g = graphOf(m);
    g.initializer = g.initializer.filter((t) => t.name !== 'B');
    g.input.push(valueInfo('B', [6]));
    expectLeft(m, 'non-constant-input', /bias 'B' is a graph input/);
  });

  it('Gemm whose C does not broadcast per output column', () => {
    const m = producerBnModel({ op: 'Gemm', bias: [3, 2] });
    expectLeft(m, 'shape-mismatch', /not broadcastable/);
  });

  it('Gemm before opset 7 (legacy broadcast attribute)', () => {
    const m = producerBnModel({ op: 'Gemm', bias: true, opset: 6, bnAttributes: { is_test: 1 } });
    expectLeft(m, 'unsupported-layout', /opset 6/);
  });

  it('an integer weight (no exact fold in an integer dtype)', () => {
    const m = producerBnModel({ op: 'Gemm' });
    const g = graphOf(m);
    g.initializer = g.initializer.map((t) => (t.name === 'W' ? { ...t, data_type: DataType.INT32 } : t));
    expectLeft(m, 'unsupported-dtype', /weight 'W' has dtype INT32/);
  });

  it('ConvTranspose whose input channels do not divide into the groups', () => {
    const m = producerBnModel({ op: 'ConvTranspose', cin: 4, cout: 6, group: 2 });
    for (const a of nodeNamed(m, 'prod').attribute) if (a.name === 'group') a.i = 3;
    expectLeft(m, 'shape-mismatch', /not divisible by group 3/);
  });

  it('a float16 fold whose scaled weights overflow float16', () => {
    const m = producerBnModel({ op: 'Conv', dataType: DataType.FLOAT16 });
    const g = graphOf(m);
    g.initializer = g.initializer.map((t) => (t.name === 'bn_var' ? makeFloatTensor('bn_var', [6], [0, 0, 0, 0, 0, 0], DataType.FLOAT16) : t));
    for (const a of nodeNamed(m, 'bn').attribute) if (a.name === 'epsilon') a.f = 1e-12;
    expectLeft(m, 'invalid-statistics', /does not fit FLOAT16/);
  });

  it('BN vectors of the wrong length for the producer', () => {
    const m = producerBnModel({ op: 'ConvTranspose', cin: 4, cout: 6, group: 2 });
    // Claim 3 output channels per group -> 6 total; a W with 2 per group gives 4: the vectors do not fit.
    const g = graphOf(m);
    g.initializer = g.initializer.map((t) => (t.name === 'W' ? makeFloatTensor('W', [4, 2, 3, 3], new Array(72).fill(0.5)) : t));
    expectLeft(m, 'shape-mismatch', /6 values, the producer has 4 output channels/);
  });
});

describe('chains', () => {
  it('MatMul -> BN -> BN folds twice: into the new Gemm, then into its C', async () => {
    const m = producerBnModel({ op: 'MatMul' });
    const g = graphOf(m);
    nodeNamed(m, 'bn').output[0] = 'mid';
    g.node.push({ input: ['mid', 'bn_var', 'bn_mean', 'bn_B', 'bn_var'], output: ['y'], op_type: 'BatchNormalization', name: 'bn2', attribute: [], metadata_props: [] });
    const run = await foldAndVerify(m);
    expect(run.result.report.batchNormFolded).toBe(2);
    expect(opTypes(run.result.model)).toEqual(['Gemm']);
    expect(graphOf(run.result.model).initializer.map((t) => t.name)).toEqual(['W_bnfused_bnfused', 'prod_bias_bnfused_bnfused']);
    expect(run.verification.ok).toBe(true);
    checker.add('matmul-bn-bn', run.after);
  });
});

itWithOnnxChecker('every folded model passes onnx.checker.check_model(full_check=True) and re-serialises to the same bytes', () => {
  const n = checker.count;
  expect(n).toBeGreaterThan(20);
  // Opset 21 is beyond python3-onnx 1.12 and is skipped by the script.
  expect(checker.run()).toBe(n - 1);
});
