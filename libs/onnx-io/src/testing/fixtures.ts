// Model fixtures for tests (never used by the product): small Conv/Gemm/MatMul + BatchNormalization
// graphs with random, non-trivial statistics, external-data variants, and graph accessors.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Prng } from '@edge-ssd/prng';
import { AttributeProto, AttributeType, DataType, GraphProto, ModelProto, NodeProto, TensorProto } from '../onnx-types';
import { DEFAULT_IR_VERSION, DEFAULT_OPSET, GraphBuilder } from '../graph-builder';
import { encodeModel } from '../codec';
import { makeFloatTensor } from '../tensor';

export interface ConvBnOptions {
  cin?: number;
  cout?: number;
  kernel?: number;
  group?: number;
  bias?: boolean;
  /** BN epsilon attribute; null omits the attribute (ONNX default 1e-5 applies). */
  epsilon?: number | null;
  seed?: number;
  /** Element type of the whole graph (input, weights, BN vectors). */
  dataType?: number;
  /** Overrides for the BN vectors (length cout). */
  variance?: number[];
  gamma?: number[];
}

/**
 * X[N, cin, 6, 6] -> Conv 'conv' (W 'W', optional B 'B') -> 'conv_out' -> BatchNormalization 'bn'
 * (scale/B/mean/var 'bn_scale'...) -> 'y' (graph output). Random, non-trivial statistics: negative
 * gammas, nonzero means, variances from 1e-3 to 4.
 */
export function convBnModel(o: ConvBnOptions = {}): ModelProto {
  const cin = o.cin ?? 4;
  const cout = o.cout ?? 6;
  const k = o.kernel ?? 3;
  const group = o.group ?? 1;
  const dt = o.dataType ?? DataType.FLOAT;
  const rng = new Prng(o.seed ?? 7);
  const b = new GraphBuilder('conv-bn');
  b.input('X', ['N', cin, 6, 6], dt);
  const wCount = cout * (cin / group) * k * k;
  b.initializer(makeFloatTensor('W', [cout, cin / group, k, k], Array.from({ length: wCount }, () => rng.uniform(-1, 1)), dt));
  const convInputs = ['X', 'W'];
  if (o.bias) {
    b.initializer(makeFloatTensor('B', [cout], Array.from({ length: cout }, () => rng.uniform(-1, 1)), dt));
    convInputs.push('B');
  }
  const pad = (k - 1) / 2;
  b.node('Conv', convInputs, ['conv_out'], { kernel_shape: [k, k], pads: [pad, pad, pad, pad], group }, 'conv');
  const vec = (f: (c: number) => number) => Array.from({ length: cout }, (_, c) => f(c));
  const gamma = o.gamma ?? vec((c) => (c % 3 === 0 ? -rng.uniform(0.2, 1.5) : rng.uniform(0.2, 1.5)));
  const variance = o.variance ?? vec((c) => (c === 1 ? 1e-3 : rng.uniform(0.1, 4)));
  b.initializer(makeFloatTensor('bn_scale', [cout], gamma, dt));
  b.initializer(makeFloatTensor('bn_B', [cout], vec(() => rng.uniform(-1, 1)), dt));
  b.initializer(makeFloatTensor('bn_mean', [cout], vec(() => rng.uniform(-1, 1)), dt));
  b.initializer(makeFloatTensor('bn_var', [cout], variance, dt));
  const epsilon = o.epsilon === undefined ? 1e-3 : o.epsilon;
  b.node('BatchNormalization', ['conv_out', 'bn_scale', 'bn_B', 'bn_mean', 'bn_var'], ['y'], epsilon === null ? {} : { epsilon: { float: epsilon } }, 'bn');
  b.output('y', ['N', cout, 6, 6], dt);
  return b.model({ irVersion: DEFAULT_IR_VERSION, opsetVersion: DEFAULT_OPSET, producerName: 'test', metadata: { note: 'kept' } });
}

type ProducerOp = 'Conv' | 'ConvTranspose' | 'Gemm' | 'MatMul';

export interface ProducerBnOptions {
  op: ProducerOp;
  /** Input features / channels (K for Gemm/MatMul). */
  cin?: number;
  /** Output features / channels (N for Gemm/MatMul). */
  cout?: number;
  group?: number;
  kernel?: number;
  /** Conv/ConvTranspose bias; for Gemm the shape of C ([] scalar, [N], [1, N], [M, N], [M, 1]). */
  bias?: boolean | number[];
  transB?: boolean;
  alpha?: number;
  beta?: number;
  /** Rows of the Gemm/MatMul input (M). */
  rows?: number;
  /** Element type of X, the weights and the bias. */
  dataType?: number;
  /** Element type of the BN vectors (BN-15 allows them to differ from X). */
  statsType?: number;
  /** BN epsilon; null omits the attribute. */
  epsilon?: number | null;
  opset?: number;
  irVersion?: number;
  seed?: number;
  /** Extra BN attributes (e.g. spatial for opset 7). */
  bnAttributes?: Record<string, number>;
}

/** A Conv+BN model whose weight (1152 floats) is stored in `dataFile` next to it, as external data. */
export function writeExternalModel(dir: string, name: string, dataFile = 'w.bin', location = dataFile, seed?: number): string {
  const m = convBnModel({ bias: true, cin: 8, cout: 16, seed });
  const g = m.graph as NonNullable<ModelProto['graph']>;
  const i = g.initializer.findIndex((t) => t.name === 'W');
  const w = g.initializer[i];
  const raw = w.raw_data as Uint8Array;
  fs.writeFileSync(path.join(dir, dataFile), raw);
  const ext: TensorProto = {
    ...w,
    data_location: 1,
    external_data: [
      { key: 'location', value: location },
      { key: 'offset', value: '0' },
      { key: 'length', value: String(raw.byteLength) },
    ],
  };
  delete ext.raw_data;
  g.initializer[i] = ext;
  const file = path.join(dir, name);
  fs.writeFileSync(file, encodeModel(m));
  return file;
}

/**
 * X -> producer 'prod' (weight 'W', bias 'B') -> 'prod_out' -> BatchNormalization 'bn' -> 'y'.
 * Shapes are fully declared so that onnx.checker's shape inference can check them. Random,
 * non-trivial statistics: negative gammas, nonzero means, one tiny variance.
 */
export function producerBnModel(o: ProducerBnOptions): ModelProto {
  const rng = new Prng(o.seed ?? 11);
  const dt = o.dataType ?? DataType.FLOAT;
  const st = o.statsType ?? dt;
  const cin = o.cin ?? 4;
  const cout = o.cout ?? 6;
  const group = o.group ?? 1;
  const k = o.kernel ?? 3;
  const rows = o.rows ?? 3;
  const rand = (n: number, lo = -1, hi = 1) => Array.from({ length: n }, () => rng.uniform(lo, hi));
  const b = new GraphBuilder(`${o.op.toLowerCase()}-bn`);
  const attrs: Record<string, number | number[] | { float: number }> = {};
  let outShape: (number | string)[];
  const inputs = ['X', 'W'];
  if (o.op === 'Conv' || o.op === 'ConvTranspose') {
    b.input('X', ['N', cin, 5, 5], dt);
    const wDims = o.op === 'Conv' ? [cout, cin / group, k, k] : [cin, cout / group, k, k];
    b.initializer(makeFloatTensor('W', wDims, rand(wDims.reduce((p, d) => p * d, 1)), dt));
    if (o.bias) {
      b.initializer(makeFloatTensor('B', [cout], rand(cout), dt));
      inputs.push('B');
    }
    attrs.kernel_shape = [k, k];
    if (group !== 1) attrs.group = group;
    if (o.op === 'Conv') {
      const pad = (k - 1) / 2;
      attrs.pads = [pad, pad, pad, pad];
      outShape = ['N', cout, 5, 5];
    } else {
      attrs.strides = [2, 2];
      outShape = ['N', cout, 2 * 4 + k, 2 * 4 + k];
    }
  } else {
    b.input('X', [rows, cin], dt);
    const wDims = o.op === 'Gemm' && o.transB ? [cout, cin] : [cin, cout];
    b.initializer(makeFloatTensor('W', wDims, rand(cin * cout), dt));
    if (o.op === 'Gemm') {
      if (o.transB) attrs.transB = 1;
      if (o.alpha !== undefined) attrs.alpha = { float: o.alpha };
      if (o.beta !== undefined) attrs.beta = { float: o.beta };
      if (Array.isArray(o.bias) || o.bias === true) {
        const dims = Array.isArray(o.bias) ? o.bias : [cout];
        b.initializer(makeFloatTensor('B', dims, rand(dims.reduce((p, d) => p * d, 1)), dt));
        inputs.push('B');
      }
    }
    outShape = [rows, cout];
  }
  b.node(o.op, inputs, ['prod_out'], attrs, 'prod');
  const gamma = rand(cout, 0.3, 1.5).map((g, c) => (c % 3 === 0 ? -g : g));
  // One tiny variance (large scale factor), except in float16, where the *unfolded* model's own
  // rounding of the producer output would then dominate the comparison.
  const variance = rand(cout, 0.1, 3).map((v, c) => (c === 1 && dt !== DataType.FLOAT16 ? 1e-3 : v));
  b.initializer(makeFloatTensor('bn_scale', [cout], gamma, st));
  b.initializer(makeFloatTensor('bn_B', [cout], rand(cout), st));
  b.initializer(makeFloatTensor('bn_mean', [cout], rand(cout), st));
  b.initializer(makeFloatTensor('bn_var', [cout], variance, st));
  const epsilon = o.epsilon === undefined ? 1e-3 : o.epsilon;
  const bnAttrs: Record<string, number | { float: number }> = { ...(o.bnAttributes ?? {}) };
  if (epsilon !== null) bnAttrs.epsilon = { float: epsilon };
  b.node('BatchNormalization', ['prod_out', 'bn_scale', 'bn_B', 'bn_mean', 'bn_var'], ['y'], bnAttrs, 'bn');
  b.output('y', outShape, dt);
  const opset = o.opset ?? DEFAULT_OPSET;
  const irVersion = o.irVersion ?? (opset >= 15 ? DEFAULT_IR_VERSION : opset >= 9 ? 4 : 3);
  const model = b.model({ irVersion, opsetVersion: opset, producerName: 'test' });
  return irVersion < 4 ? listInitializersAsInputs(model) : model;
}

export function graphOf(model: ModelProto): GraphProto {
  if (!model.graph) throw new Error('no graph');
  return model.graph;
}

export function nodeNamed(model: ModelProto, name: string): NodeProto {
  const n = model.graph?.node.find((x) => x.name === name);
  if (!n) throw new Error(`no node ${name}`);
  return n;
}

export function graphAttr(name: string, g: GraphProto): AttributeProto {
  return { name, type: AttributeType.GRAPH, g, floats: [], ints: [], strings: [], tensors: [], graphs: [], sparse_tensors: [], type_protos: [] };
}

/** IR < 4 style: every initializer also listed as a graph input. */
function listInitializersAsInputs(model: ModelProto): ModelProto {
  const g = graphOf(model);
  for (const t of g.initializer) {
    g.input.push({ name: t.name, type: { tensor_type: { elem_type: t.data_type, shape: { dim: t.dims.map((d) => ({ dim_value: d })) } } }, metadata_props: [] });
  }
  return model;
}

export function initializer(model: ModelProto, name: string): TensorProto {
  const t = model.graph?.initializer.find((i) => i.name === name);
  if (!t) throw new Error(`no initializer '${name}'`);
  return t;
}

export function opTypes(model: ModelProto): string[] {
  return (model.graph?.node ?? []).map((n) => n.op_type ?? '');
}
