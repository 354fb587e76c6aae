// Test helpers: small Conv/BN graphs, onnxruntime runs, and a compact SSD post-processor (priors,
// CENTER_SIZE decode, per-class greedy NMS) used only to count detections. The detector's real
// post-processing lives in ssd-core; this one is deliberately independent of it.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as ort from 'onnxruntime-node';
import { MOBILENET_SSD_VOC_300 } from '@edge-ssd/ssd-core';
import {
  AttributeProto,
  AttributeType,
  DEFAULT_IR_VERSION,
  DEFAULT_OPSET,
  DataType,
  FoldOptions,
  FoldResult,
  GraphBuilder,
  GraphProto,
  ModelProto,
  NodeProto,
  Prng,
  TensorProto,
  VerifyResult,
  encodeModel,
  foldBatchNorm,
  makeFloatTensor,
  verifyFold,
} from '../src';

export const CLI = path.resolve(__dirname, '../dist/cli.js');
export const PYTHON = '/usr/bin/python3';

export function tempDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `bn-fuse-${prefix}-`));
}

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

export type ProducerOp = 'Conv' | 'ConvTranspose' | 'Gemm' | 'MatMul';

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

export function intAttr(name: string, i: number): AttributeProto {
  return { name, type: AttributeType.INT, i, floats: [], ints: [], strings: [], tensors: [], graphs: [], sparse_tensors: [], type_protos: [] };
}

export function graphAttr(name: string, g: GraphProto): AttributeProto {
  return { name, type: AttributeType.GRAPH, g, floats: [], ints: [], strings: [], tensors: [], graphs: [], sparse_tensors: [], type_protos: [] };
}

/** IR < 4 style: every initializer also listed as a graph input. */
export function listInitializersAsInputs(model: ModelProto): ModelProto {
  const g = graphOf(model);
  for (const t of g.initializer) {
    g.input.push({ name: t.name, type: { tensor_type: { elem_type: t.data_type, shape: { dim: t.dims.map((d) => ({ dim_value: d })) } } } });
  }
  return model;
}

/**
 * Folds `model`, checks that the BN(s) are gone as expected, and that onnxruntime (optimizations
 * disabled) gives the same outputs for the original and the folded model within the tolerance.
 */
export async function foldAndVerify(
  model: ModelProto,
  tolerance: { rtol?: number; atol?: number } = {},
  options: FoldOptions = {},
): Promise<{ result: FoldResult; verification: VerifyResult; before: Uint8Array; after: Uint8Array }> {
  const before = encodeModel(model);
  const result = foldBatchNorm(model, options);
  const after = encodeModel(result.model);
  const verification = await verifyFold(before, after, { rtol: tolerance.rtol ?? 1e-5, atol: tolerance.atol ?? 1e-6 });
  return { result, verification, before, after };
}

/**
 * Collects models and runs `onnx.checker.check_model(full_check=True)` on all of them in one
 * Python process, plus a check that the reference serializer reproduces our bytes. Needs Debian's
 * python3-onnx; with BN_FUSE_SKIP_ONNX_CHECKER=1 a missing package skips the check.
 */
export class OnnxChecker {
  readonly dir: string;
  private readonly files: string[] = [];

  constructor(prefix: string) {
    this.dir = tempDir(`checker-${prefix}`);
  }

  /** Models above opset 17 / IR 8 are beyond python3-onnx 1.12 and are not queued. */
  add(name: string, model: ModelProto | Uint8Array): void {
    const bytes = model instanceof Uint8Array ? model : encodeModel(model);
    const file = path.join(this.dir, `${name.replace(/[^\w.-]+/g, '_')}.onnx`);
    fs.writeFileSync(file, bytes);
    this.files.push(file);
  }

  addFile(file: string): void {
    this.files.push(file);
  }

  get count(): number {
    return this.files.length;
  }

  /** Returns the number of models checked (0 when skipped). */
  run(): number {
    if (!pythonOnnxAvailable()) return 0;
    const script = [
      'import sys, onnx',
      'for p in sys.argv[1:]:',
      '    data = open(p, "rb").read()',
      '    m = onnx.load(p, load_external_data=False)',
      '    if max([o.version for o in m.opset_import if o.domain in ("", "ai.onnx")] + [0]) > 17 or m.ir_version > 8:',
      '        print("skip", p); continue',
      // The reference serializer must reproduce our bytes exactly (canonical field order, packing).
      '    assert m.SerializeToString() == data, "re-serialised bytes differ: " + p',
      // On a loaded proto (external data read in): check_model(path, full_check=True) in onnx 1.12
      // writes the shape-inferred model back over the file.
      '    onnx.checker.check_model(onnx.load(p), full_check=True)',
      // With external data, also the path-based check (it validates the data file references).
      '    if any(t.data_location == onnx.TensorProto.EXTERNAL for t in m.graph.initializer):',
      '        onnx.checker.check_model(p)',
      '    print("ok", p)',
    ].join('\n');
    const r = spawnSync(PYTHON, ['-c', script, ...this.files], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`onnx.checker failed (exit ${r.status}): ${r.stderr.trim().split('\n').slice(-3).join(' | ')}`);
    return r.stdout.split('\n').filter((l) => l.startsWith('ok ')).length;
  }

  cleanup(): void {
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

let pythonOnnx: boolean | undefined;

/** True when Debian's python3 can import onnx; throws (unless BN_FUSE_SKIP_ONNX_CHECKER=1) when it cannot. */
export function pythonOnnxAvailable(): boolean {
  if (pythonOnnx === undefined) {
    const probe = spawnSync(PYTHON, ['-c', 'import onnx, numpy'], { encoding: 'utf8' });
    pythonOnnx = probe.status === 0;
    if (!pythonOnnx && process.env.BN_FUSE_SKIP_ONNX_CHECKER !== '1') {
      throw new Error(
        `cannot import the onnx Python package with ${PYTHON} (${(probe.stderr || String(probe.error)).trim().split('\n').pop()}). ` +
          'Install it with `apt-get install -y python3-onnx`, or set BN_FUSE_SKIP_ONNX_CHECKER=1 to skip these checks.',
      );
    }
  }
  return pythonOnnx;
}

export function initializer(model: ModelProto, name: string): TensorProto {
  const t = model.graph?.initializer.find((i) => i.name === name);
  if (!t) throw new Error(`no initializer '${name}'`);
  return t;
}

export function opTypes(model: ModelProto): string[] {
  return (model.graph?.node ?? []).map((n) => n.op_type ?? '');
}

export async function runOrt(bytes: Uint8Array, feeds: Record<string, ort.Tensor>): Promise<Record<string, ort.Tensor>> {
  const session = await ort.InferenceSession.create(bytes, { graphOptimizationLevel: 'disabled' });
  try {
    return await session.run(feeds);
  } finally {
    await session.release();
  }
}

// ---- images and detections ----------------------------------------------------------------------

/** A smooth colour gradient over the image, normalised to [-1, 1] (NCHW, batch 1). */
export function gradientImage(size = 300): Float32Array {
  const out = new Float32Array(3 * size * size);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const u = x / (size - 1);
      const v = y / (size - 1);
      out[y * size + x] = 2 * u - 1;
      out[size * size + y * size + x] = 2 * v - 1;
      out[2 * size * size + y * size + x] = u + v - 1;
    }
  }
  return out;
}

/** Uniform noise in [-1, 1]. */
export function noiseImage(seed: number, size = 300): Float32Array {
  const rng = new Prng(seed);
  return Float32Array.from({ length: 3 * size * size }, () => rng.uniform(-1, 1));
}

type Box = [number, number, number, number];

/** Caffe PriorBox for the spec's heads (300x300, no step/img_size set, clip false). */
export function priorBoxes(): { boxes: Box[]; variances: number[] } {
  const spec = MOBILENET_SSD_VOC_300;
  if (spec.priors.kind !== 'priorbox') throw new Error('expected priorbox priors');
  const boxes: Box[] = [];
  const img = spec.input.width;
  let variances: number[] = [0.1];
  for (const head of spec.priors.heads) {
    const [fh, fw] = head.featureMap;
    const ratios = [1];
    for (const ar of head.aspectRatios ?? []) {
      if (ratios.some((r) => Math.abs(r - ar) < 1e-6)) continue;
      ratios.push(ar);
      if (head.flip ?? true) ratios.push(1 / ar);
    }
    variances = head.variance ?? [0.1];
    const offset = head.offset ?? 0.5;
    for (let h = 0; h < fh; h++) {
      for (let w = 0; w < fw; w++) {
        const cx = (w + offset) * (img / fw);
        const cy = (h + offset) * (img / fh);
        const sizes: [number, number][] = [];
        head.minSizes.forEach((min, i) => {
          sizes.push([min, min]);
          const max = head.maxSizes?.[i];
          if (max !== undefined) sizes.push([Math.sqrt(min * max), Math.sqrt(min * max)]);
          for (const r of ratios.slice(1)) sizes.push([min * Math.sqrt(r), min / Math.sqrt(r)]);
        });
        for (const [bw, bh] of sizes) boxes.push([(cx - bw / 2) / img, (cy - bh / 2) / img, (cx + bw / 2) / img, (cy + bh / 2) / img]);
      }
    }
  }
  return { boxes, variances };
}

function iou(a: Box, b: Box): number {
  const iw = Math.min(a[2], b[2]) - Math.max(a[0], b[0]);
  const ih = Math.min(a[3], b[3]) - Math.max(a[1], b[1]);
  if (iw <= 0 || ih <= 0) return 0;
  const inter = iw * ih;
  return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter);
}

export interface DetectionCount {
  /** (prior, non-background class) pairs scoring above the threshold. */
  candidates: number;
  /** Detections after per-class NMS and keep_top_k. */
  detections: number;
  classes: number[];
}

/** DetectionOutput semantics with the spec's NMS parameters (batch item 0). */
export function countDetections(loc: Float32Array, conf: Float32Array, numClasses = 21): DetectionCount {
  const { boxes: priors, variances: v } = priorBoxes();
  const { scoreThreshold, iouThreshold, topK, keepTopK } = MOBILENET_SSD_VOC_300.nms;
  const decode = (i: number): Box => {
    const p = priors[i];
    const pw = p[2] - p[0];
    const ph = p[3] - p[1];
    const cx = v[0] * loc[i * 4] * pw + (p[0] + p[2]) / 2;
    const cy = v[1] * loc[i * 4 + 1] * ph + (p[1] + p[3]) / 2;
    const w = Math.exp(v[2] * loc[i * 4 + 2]) * pw;
    const h = Math.exp(v[3] * loc[i * 4 + 3]) * ph;
    return [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2];
  };
  let candidates = 0;
  const kept: { score: number; cls: number }[] = [];
  for (let c = 1; c < numClasses; c++) {
    const cand: [number, number][] = [];
    for (let i = 0; i < priors.length; i++) {
      const s = conf[i * numClasses + c];
      if (s > scoreThreshold) cand.push([s, i]);
    }
    candidates += cand.length;
    cand.sort((a, b) => b[0] - a[0] || a[1] - b[1]);
    const chosen: Box[] = [];
    for (const [s, i] of cand.slice(0, topK)) {
      const box = decode(i);
      if (chosen.every((k) => iou(k, box) <= iouThreshold)) {
        chosen.push(box);
        kept.push({ score: s, cls: c });
      }
    }
  }
  kept.sort((a, b) => b.score - a.score);
  const final = keepTopK > -1 ? kept.slice(0, keepTopK) : kept;
  return { candidates, detections: final.length, classes: [...new Set(final.map((d) => d.cls))].sort((a, b) => a - b) };
}
