// Test helpers: small Conv/BN graphs, onnxruntime runs, and a compact SSD post-processor (priors,
// CENTER_SIZE decode, per-class greedy NMS) used only to count detections. The detector's real
// post-processing lives in ssd-core; this one is deliberately independent of it.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as ort from 'onnxruntime-node';
import { MOBILENET_SSD_VOC_300 } from '@edge-ssd/ssd-core';
import {
  DEFAULT_IR_VERSION,
  DEFAULT_OPSET,
  DataType,
  GraphBuilder,
  ModelProto,
  Prng,
  TensorProto,
  makeFloatTensor,
} from '../src';

export const CLI = path.resolve(__dirname, '../dist/cli.js');

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
