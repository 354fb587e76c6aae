// Caffe models for the importer tests: prototxt text generated here and weights written with our
// caffemodel writer (caffe-writer.ts), plus the OpenCV dnn oracle runner.
//
// - mobileNetSsdCaffe(): chuanqi305's MobileNet-SSD deploy net at full size, following the layer
//   table of shared/reference/mobilenet-ssd.md (§1, §2.1, §3.1), in its train-style form
//   (deploy.prototxt: Convolution without bias + in-place BatchNorm + Scale + ReLU) or merged
//   (MobileNetSSD_deploy.prototxt: convolutions with bias). The weights are the project's seeded,
//   calibrated MobileNet-SSD weights (buildMobileNetSsd), written as Caffe stores them: BatchNorm
//   mean/variance multiplied by a moving-average factor near 1000, a few Scales without bias and a
//   few BatchNorms with their own eps (both rewritten so the function is the same).
// - small nets with seeded random weights that exercise the other layers.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { type ModelProto, type TensorProto, readTensorFloat64 } from '@edge-ssd/onnx-io';
import { MOBILENET_SSD_VOC_300, type PriorBoxHead } from '@edge-ssd/ssd-core';
import { Prng } from '@edge-ssd/prng';
import { MOBILENET_SSD_HEADS, MOBILENET_SSD_LAYERS, buildMobileNetSsd } from '../seeded/mobilenet-ssd';
import type { CaffeLayerData } from './caffe-writer';

const PYTHON = '/usr/bin/python3';
/** The OpenCV dnn runner: libs/importers/oracle, from src/testing and dist/testing alike. */
const ORACLE = path.join(__dirname, '..', '..', 'oracle', 'opencv_caffe_oracle.py');
export const SKIP_OPENCV = process.env.SSD_SKIP_OPENCV === '1';

// ---- prototxt text --------------------------------------------------------------------------------

export interface LayerText {
  name: string;
  type: string;
  bottom?: string[];
  top?: string[];
  /** Parameter block text, e.g. 'convolution_param { num_output: 32 }'. */
  params?: string;
  /** Extra lines inside the layer (include rules, param specs, comments). */
  extra?: string;
}

export function layerText(l: LayerText): string {
  const lines = ['layer {', `  name: "${l.name}"`, `  type: "${l.type}"`];
  for (const b of l.bottom ?? []) lines.push(`  bottom: "${b}"`);
  for (const t of l.top ?? []) lines.push(`  top: "${t}"`);
  if (l.extra) lines.push(...l.extra.split('\n').map((s) => `  ${s}`));
  if (l.params) lines.push(...l.params.split('\n').map((s) => `  ${s}`));
  lines.push('}');
  return lines.join('\n');
}

export function inputHeader(name: string, shape: number[], netName = 'net'): string {
  return [`name: "${netName}"`, `input: "${name}"`, 'input_shape {', ...shape.map((d) => `  dim: ${d}`), '}'].join('\n');
}

/**
 * The layers after the heads of a Caffe SSD deploy net (chuanqi305's and weiliu89's alike): the
 * loc, conf and prior-box Concats of the heads' `<source>_mbox_*` blobs, the conf Reshape,
 * Softmax and Flatten, and the DetectionOutput with these settings.
 */
export function ssdOutputLayers(
  sources: readonly string[],
  numClasses: number,
  d: { iouThreshold: number; topK: number; keepTopK: number; scoreThreshold: number; codeType: string; backgroundLabelId: number },
): string[] {
  const concat = (name: string, suffix: string, axis: number) => layerText({ name, type: 'Concat', bottom: sources.map((s) => `${s}_${suffix}`), top: [name], params: `concat_param {\n  axis: ${axis}\n}` });
  return [
    concat('mbox_loc', 'mbox_loc_flat', 1),
    concat('mbox_conf', 'mbox_conf_flat', 1),
    concat('mbox_priorbox', 'mbox_priorbox', 2),
    layerText({ name: 'mbox_conf_reshape', type: 'Reshape', bottom: ['mbox_conf'], top: ['mbox_conf_reshape'], params: `reshape_param {\n  shape {\n    dim: 0\n    dim: -1\n    dim: ${numClasses}\n  }\n}` }),
    layerText({ name: 'mbox_conf_softmax', type: 'Softmax', bottom: ['mbox_conf_reshape'], top: ['mbox_conf_softmax'], params: 'softmax_param {\n  axis: 2\n}' }),
    layerText({ name: 'mbox_conf_flatten', type: 'Flatten', bottom: ['mbox_conf_softmax'], top: ['mbox_conf_flatten'], params: 'flatten_param {\n  axis: 1\n}' }),
    layerText({
      name: 'detection_out',
      type: 'DetectionOutput',
      bottom: ['mbox_loc', 'mbox_conf_flatten', 'mbox_priorbox'],
      top: ['detection_out'],
      extra: 'include {\n  phase: TEST\n}',
      params: [
        'detection_output_param {',
        `  num_classes: ${numClasses}`,
        '  share_location: true',
        `  background_label_id: ${d.backgroundLabelId}`,
        '  nms_param {',
        `    nms_threshold: ${d.iouThreshold}`,
        `    top_k: ${d.topK}`,
        '  }',
        `  code_type: ${d.codeType}`,
        `  keep_top_k: ${d.keepTopK}`,
        `  confidence_threshold: ${d.scoreThreshold}`,
        '}',
      ].join('\n'),
    }),
  ];
}

// ---- MobileNet-SSD ---------------------------------------------------------------------------------

export interface MobileNetSsdCaffeOptions {
  /** Train-style BatchNorm + Scale (true) or merged convolutions with bias (false). */
  batchNorm: boolean;
  /** Layers whose Scale has no bias (BatchNorm form). */
  scaleWithoutBias?: readonly string[];
  /** Layers whose BatchNorm sets eps in the prototxt (BatchNorm form). */
  bnEps?: Readonly<Record<string, number>>;
}

export interface CaffeFixture {
  prototxt: string;
  layers: CaffeLayerData[];
}

let cachedModel: ModelProto | undefined;

/** The project's default (seeded, calibrated) MobileNet-SSD as ONNX; built once per process. */
function defaultMobileNetSsd(): ModelProto {
  cachedModel ??= buildMobileNetSsd();
  return cachedModel;
}

function initializers(model: ModelProto): Map<string, TensorProto> {
  return new Map((model.graph?.initializer ?? []).map((t) => [t.name ?? '', t]));
}

function values(map: Map<string, TensorProto>, name: string): Float64Array {
  const t = map.get(name);
  if (!t) throw new Error(`no initializer ${name}`);
  return readTensorFloat64(t);
}

/** The BatchNorm moving-average factor stored for layer i: near 1000, different per layer. */
function bnFactor(i: number): number {
  return Math.fround(1000 - 1.37 * i);
}

const DEFAULT_SCALE_WITHOUT_BIAS = ['conv3', 'conv9/dw', 'conv15_2'];
const DEFAULT_BN_EPS: Readonly<Record<string, number>> = { conv5: 1e-3, 'conv13/dw': 2e-4, conv16_1: 1e-4 };
const CAFFE_EPS = 1e-5;

export function mobileNetSsdCaffe(options: MobileNetSsdCaffeOptions): CaffeFixture {
  const bnForm = options.batchNorm;
  const noBias = new Set(options.scaleWithoutBias ?? DEFAULT_SCALE_WITHOUT_BIAS);
  const epsOf = options.bnEps ?? DEFAULT_BN_EPS;
  const init = initializers(defaultMobileNetSsd());
  const text: string[] = [inputHeader('data', [1, 3, 300, 300], 'MobileNet-SSD')];
  const layers: CaffeLayerData[] = [];

  MOBILENET_SSD_LAYERS.forEach((spec, i) => {
    const n = spec.name;
    const bottom = i === 0 ? 'data' : MOBILENET_SSD_LAYERS[i - 1].name;
    const W = values(init, `${n}/W`);
    const gamma = values(init, `${n}/bn/scale`);
    const beta = values(init, `${n}/bn/B`);
    const mean = values(init, `${n}/bn/mean`);
    const variance = values(init, `${n}/bn/var`);
    const C = spec.outChannels;
    const wShape = [C, spec.inChannels / spec.group, spec.kernel, spec.kernel];
    const convParams = [
      'convolution_param {',
      `  num_output: ${C}`,
      ...(bnForm ? ['  bias_term: false'] : []),
      ...(spec.pad > 0 ? [`  pad: ${spec.pad}`] : []),
      `  kernel_size: ${spec.kernel}`,
      ...(spec.group > 1 ? [`  group: ${spec.group}`, '  #engine: CAFFE'] : []),
      ...(spec.stride > 1 ? [`  stride: ${spec.stride}`] : []),
      '  weight_filler {',
      '    type: "msra"',
      '  }',
      '}',
    ].join('\n');
    const paramSpecs = bnForm ? 'param {\n  lr_mult: 1.0\n  decay_mult: 1.0\n}' : 'param {\n  lr_mult: 1.0\n  decay_mult: 1.0\n}\nparam {\n  lr_mult: 2.0\n  decay_mult: 0.0\n}';
    text.push(layerText({ name: n, type: 'Convolution', bottom: [bottom], top: [n], extra: paramSpecs, params: convParams }));
    if (bnForm) {
      const eps = epsOf[n];
      const withBias = !noBias.has(n);
      const f = bnFactor(i);
      const m = new Float64Array(C);
      const v = new Float64Array(C);
      for (let c = 0; c < C; c++) {
        const sigma = Math.sqrt(variance[c] + CAFFE_EPS);
        // Same function with the prototxt's eps: keep var + eps.
        v[c] = eps !== undefined && variance[c] + CAFFE_EPS - eps > 0 ? variance[c] + CAFFE_EPS - eps : variance[c];
        // Same function without the Scale's bias: gamma (x - m') / sigma = gamma (x - m) / sigma + beta.
        m[c] = withBias ? mean[c] : mean[c] - (beta[c] * sigma) / gamma[c];
      }
      text.push(
        layerText({
          name: `${n}/bn`,
          type: 'BatchNorm',
          bottom: [n],
          top: [n],
          extra: 'param {\n  lr_mult: 0\n  decay_mult: 0\n}\nparam {\n  lr_mult: 0\n  decay_mult: 0\n}\nparam {\n  lr_mult: 0\n  decay_mult: 0\n}',
          params: eps !== undefined ? `batch_norm_param {\n  eps: ${eps}\n}` : undefined,
        }),
      );
      text.push(
        layerText({
          name: `${n}/scale`,
          type: 'Scale',
          bottom: [n],
          top: [n],
          extra: 'param {\n  lr_mult: 1.0\n  decay_mult: 0.0\n}' + (withBias ? '\nparam {\n  lr_mult: 1.0\n  decay_mult: 0.0\n}' : ''),
          params: ['scale_param {', '  filler {', '    value: 1', '  }', ...(withBias ? ['  bias_term: true', '  bias_filler {', '    value: 0', '  }'] : ['  bias_term: false']), '}'].join('\n'),
        }),
      );
      layers.push({ name: n, type: 'Convolution', bottom: [bottom], top: [n], blobs: [{ shape: wShape, data: W }] });
      layers.push({
        name: `${n}/bn`,
        type: 'BatchNorm',
        bottom: [n],
        top: [n],
        blobs: [
          { shape: [C], data: m.map((x) => x * f) },
          { shape: [C], data: v.map((x) => x * f) },
          { shape: [1], data: [f] },
        ],
      });
      layers.push({ name: `${n}/scale`, type: 'Scale', bottom: [n], top: [n], blobs: [{ shape: [C], data: gamma }, ...(withBias ? [{ shape: [C], data: beta }] : [])] });
    } else {
      // merge_bn.py: W' = W * gamma / sqrt(var + eps), b' = beta - mean * gamma / sqrt(var + eps).
      const block = W.length / C;
      const Wm = new Float64Array(W.length);
      const bm = new Float64Array(C);
      for (let c = 0; c < C; c++) {
        const s = gamma[c] / Math.sqrt(variance[c] + CAFFE_EPS);
        for (let k = c * block; k < (c + 1) * block; k++) Wm[k] = W[k] * s;
        bm[c] = beta[c] - mean[c] * s;
      }
      layers.push({ name: n, type: 'Convolution', bottom: [bottom], top: [n], blobs: [{ shape: wShape, data: Wm }, { shape: [C], data: bm }] });
    }
    text.push(layerText({ name: `${n}/relu`, type: 'ReLU', bottom: [n], top: [n] }));
  });

  // deploy.prototxt's PriorBox and DetectionOutput settings are the ones MOBILENET_SSD_VOC_300
  // describes; sizes and ratios written as chuanqi305 writes them (60.0, 2.0).
  const spec = MOBILENET_SSD_VOC_300;
  if (spec.priors.kind !== 'priorbox') throw new Error('MOBILENET_SSD_VOC_300 has PriorBox heads');
  const priorHeads = spec.priors.heads;
  const numClasses = spec.labels.length;
  const decimal = (v: number) => v.toFixed(1);
  const priorParams = (h: PriorBoxHead): string =>
    [
      ...h.minSizes.map((v) => `min_size: ${decimal(v)}`),
      ...(h.maxSizes ?? []).map((v) => `max_size: ${decimal(v)}`),
      ...(h.aspectRatios ?? []).map((v) => `aspect_ratio: ${decimal(v)}`),
      `flip: ${h.flip}`,
      `clip: ${h.clip}`,
      ...(h.variance ?? []).map((v) => `variance: ${v}`),
      `offset: ${h.offset}`,
    ].join('\n');
  MOBILENET_SSD_HEADS.forEach((head, h) => {
    const src = head.source;
    for (const kind of ['loc', 'conf'] as const) {
      const name = `${src}_mbox_${kind}`;
      const out = head.priors * (kind === 'loc' ? 4 : numClasses);
      text.push(
        layerText({
          name,
          type: 'Convolution',
          bottom: [src],
          top: [name],
          extra: 'param {\n  lr_mult: 1.0\n  decay_mult: 1.0\n}\nparam {\n  lr_mult: 2.0\n  decay_mult: 0.0\n}',
          params: `convolution_param {\n  num_output: ${out}\n  kernel_size: 1\n  weight_filler {\n    type: "msra"\n  }\n  bias_filler {\n    type: "constant"\n    value: 0.0\n  }\n}`,
        }),
      );
      text.push(layerText({ name: `${name}_perm`, type: 'Permute', bottom: [name], top: [`${name}_perm`], params: 'permute_param {\n  order: 0\n  order: 2\n  order: 3\n  order: 1\n}' }));
      text.push(layerText({ name: `${name}_flat`, type: 'Flatten', bottom: [`${name}_perm`], top: [`${name}_flat`], params: 'flatten_param {\n  axis: 1\n}' }));
      layers.push({
        name,
        type: 'Convolution',
        bottom: [src],
        top: [name],
        blobs: [
          { shape: [out, head.inChannels, 1, 1], data: values(init, `${name}/W`) },
          { shape: [out], data: values(init, `${name}/B`) },
        ],
      });
    }
    text.push(
      layerText({
        name: `${src}_mbox_priorbox`,
        type: 'PriorBox',
        bottom: [src, 'data'],
        top: [`${src}_mbox_priorbox`],
        params: `prior_box_param {\n${priorParams(priorHeads[h])
          .split('\n')
          .map((l) => `  ${l}`)
          .join('\n')}\n}`,
      }),
    );
  });
  text.push(...ssdOutputLayers(MOBILENET_SSD_HEADS.map((h) => h.source), numClasses, { ...spec.nms, codeType: spec.codeType, backgroundLabelId: spec.backgroundLabelId }));
  return { prototxt: `${text.join('\n')}\n`, layers };
}

// ---- inputs ---------------------------------------------------------------------------------------

/**
 * Test images in the model's normalised range, NCHW float32: synthetic scenes (smooth gradients
 * with flat shapes, like the calibration image), one white-noise image, one smooth gradient.
 */
export function testImages(count: number, size: number, seed: number, channels = 3): Float32Array {
  const rng = new Prng(seed);
  const plane = size * size;
  const out = new Float32Array(count * channels * plane);
  for (let n = 0; n < count; n++) {
    const base = n * channels * plane;
    const kind = n % 4;
    const shapes = Array.from({ length: 5 }, () => ({
      cx: rng.uniform(0.1, 0.9) * size,
      cy: rng.uniform(0.1, 0.9) * size,
      r: rng.uniform(0.08, 0.3) * size,
      square: rng.next() < 0.5,
      colour: Array.from({ length: channels }, () => rng.uniform(-0.9, 0.9)),
    }));
    const tilt = [rng.uniform(-0.8, 0.8), rng.uniform(-0.8, 0.8), rng.uniform(-0.5, 0.5)];
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) {
        const u = x / (size - 1);
        const v = y / (size - 1);
        let px = Array.from({ length: channels }, (_, c) => tilt[c % 3] * (u - 0.5) + tilt[(c + 1) % 3] * (v - 0.5));
        if (kind !== 3) {
          for (const s of shapes) {
            const dx = x - s.cx;
            const dy = y - s.cy;
            if (s.square ? Math.abs(dx) < s.r && Math.abs(dy) < s.r : dx * dx + dy * dy < s.r * s.r) px = s.colour;
          }
        }
        for (let c = 0; c < channels; c++) {
          const noise = kind === 2 ? rng.uniform(-1, 1) : 0.04 * (rng.next() - 0.5);
          const val = kind === 2 ? noise : px[c] + noise;
          out[base + c * plane + y * size + x] = Math.max(-1, Math.min(1, val));
        }
      }
    }
  }
  return out;
}

// ---- OpenCV oracle --------------------------------------------------------------------------------

export interface OracleOutput {
  name: string;
  shape: number[];
  data: Float32Array;
}

export interface OracleRun {
  opencv: string;
  ms: number;
  outputs: Map<string, OracleOutput>;
}

/** Throws a clear error when python3-opencv is missing (callers skip with SSD_SKIP_OPENCV=1). */
export function requireOpenCv(): void {
  const probe = spawnSync(PYTHON, ['-c', 'import cv2, numpy'], { encoding: 'utf8' });
  if (probe.error || probe.status !== 0) {
    throw new Error(
      `${PYTHON} cannot import cv2 (${probe.error?.message ?? probe.stderr.trim()}). ` +
        'Install the Debian package python3-opencv (apt-get install -y python3-opencv), or set SSD_SKIP_OPENCV=1 to skip the OpenCV oracle tests.',
    );
  }
}

export interface OracleJob {
  prototxt: string;
  caffemodel: string;
  input?: string;
  shape: number[];
  /** The input blob; or `images`, which OpenCV reads and turns into the blob itself. */
  data?: Float32Array;
  /** Image files: cv2.imread + cv2.dnn.blobFromImages with `blob`; the blob comes back as output 'blob'. */
  images?: string[];
  blob?: { mean: readonly number[]; scale: number; swapRB: boolean };
  outputs: string[];
  perImage?: boolean;
  detectionOutput?: string;
}

export function runOpenCv(job: OracleJob, dir: string): OracleRun {
  const jobDir = fs.mkdtempSync(path.join(dir, 'oracle-'));
  if (job.data) fs.writeFileSync(path.join(jobDir, 'input.f32'), Buffer.from(job.data.buffer, job.data.byteOffset, job.data.byteLength));
  fs.writeFileSync(
    path.join(jobDir, 'job.json'),
    JSON.stringify({
      prototxt: job.prototxt,
      caffemodel: job.caffemodel,
      input: job.input ?? 'data',
      shape: job.shape,
      outputs: job.outputs,
      per_image: job.perImage ?? false,
      detection_output: job.detectionOutput ?? null,
      images: job.images ?? null,
      blob: job.blob ? { mean: [...job.blob.mean], scale: job.blob.scale, swap_rb: job.blob.swapRB } : null,
    }),
  );
  const run = spawnSync(PYTHON, [ORACLE, jobDir], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (run.error || run.status !== 0) throw new Error(`OpenCV oracle failed (status ${run.status}): ${run.error?.message ?? ''}\n${run.stderr}`);
  const parsed = JSON.parse(run.stdout) as { opencv: string; ms: number; outputs: { name: string; shape: number[]; file: string }[] };
  const outputs = new Map<string, OracleOutput>();
  for (const o of parsed.outputs) {
    const buf = fs.readFileSync(o.file);
    outputs.set(o.name, { name: o.name, shape: o.shape, data: new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength)) });
  }
  fs.rmSync(jobDir, { recursive: true, force: true });
  return { opencv: parsed.opencv, ms: parsed.ms, outputs };
}

export { maxAbsDiff } from '@edge-ssd/ssd-core/testing';

/** max |a - b| / max(|a|, floor): relative difference where values are not tiny. */
export function maxRelDiff(a: ArrayLike<number>, b: ArrayLike<number>, floor = 1e-3): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let worst = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]) / Math.max(Math.abs(a[i]), floor);
    if (!(d <= worst)) worst = Number.isNaN(d) ? Infinity : d;
  }
  return worst;
}

// ---- small nets with seeded random weights -------------------------------------------------------

function heUniform(rng: Prng, count: number, fanIn: number): Float32Array {
  const bound = Math.sqrt(6 / fanIn);
  return Float32Array.from({ length: count }, () => rng.uniform(-bound, bound));
}

function uniform(rng: Prng, count: number, lo: number, hi: number): Float32Array {
  return Float32Array.from({ length: count }, () => rng.uniform(lo, hi));
}

/** BatchNorm blobs as Caffe stores them: statistics times the moving-average factor. */
function bnBlobs(rng: Prng, C: number, factor: number): CaffeLayerData['blobs'] {
  const mean = uniform(rng, C, -0.5, 0.5);
  const variance = uniform(rng, C, 0.2, 2);
  return [
    { shape: [C], data: mean.map((m) => m * factor) },
    { shape: [C], data: variance.map((v) => v * factor) },
    { shape: [1], data: [factor] },
  ];
}

/** Prototxt text and caffemodel layers built side by side: `add` appends a layer and its blobs. */
function fixtureBuilder(header: string): { add: (l: LayerText, blobs?: CaffeLayerData['blobs']) => void; fixture: () => CaffeFixture } {
  const text: string[] = [header];
  const layers: CaffeLayerData[] = [];
  return {
    add(l, blobs = []) {
      text.push(layerText(l));
      if (blobs.length > 0) layers.push({ name: l.name, type: l.type, bottom: l.bottom, top: l.top, blobs });
    },
    fixture: () => ({ prototxt: `${text.join('\n')}\n`, layers }),
  };
}

/**
 * A net that exercises the layers MobileNet-SSD does not: rectangular kernels/pads/strides,
 * dilation, grouped convolution, LeakyReLU, BatchNorm with factor 0 and its own eps, BatchNorm
 * without Scale, standalone Scales (per channel with bias, two axes without bias), Sigmoid, TanH,
 * Eltwise SUM with coefficients / PROD / MAX, Split, MAX/AVE pooling with ceil rounding and
 * padding, global pooling, Concat, Deconvolution, LRN, Dropout, Flatten on axis 2, Permute,
 * Reshape, Softmax on axis 2, InnerProduct (with and without bias).
 * Outputs: 'prob' [N, 80, 4], 'ip1' [N, 10], 'ip2' [N, 6].
 */
export function zooNet(seed = 11): CaffeFixture {
  const rng = new Prng(seed);
  const { add, fixture } = fixtureBuilder(inputHeader('data', [1, 3, 20, 20], 'zoo'));
  add(
    { name: 'conv_a', type: 'Convolution', bottom: ['data'], top: ['conv_a'], params: 'convolution_param { num_output: 8 bias_term: false kernel_h: 3 kernel_w: 5 pad_h: 1 pad_w: 2 stride_h: 1 stride_w: 2 }' },
    [{ shape: [8, 3, 3, 5], data: heUniform(rng, 8 * 3 * 15, 45) }],
  );
  add({ name: 'bn_a', type: 'BatchNorm', bottom: ['conv_a'], top: ['conv_a'], params: 'batch_norm_param { use_global_stats: true eps: 0.001 }' }, bnBlobs(rng, 8, 999.5));
  add({ name: 'scale_a', type: 'Scale', bottom: ['conv_a'], top: ['conv_a'], params: 'scale_param { bias_term: true }' }, [
    { shape: [8], data: uniform(rng, 8, 0.5, 1.5) },
    { shape: [8], data: uniform(rng, 8, -0.3, 0.5) },
  ]);
  add({ name: 'relu_a', type: 'ReLU', bottom: ['conv_a'], top: ['conv_a'], params: 'relu_param { negative_slope: 0.1 }' });
  // 20x10 -> dilated grouped conv keeps 20x10.
  add(
    { name: 'conv_b', type: 'Convolution', bottom: ['conv_a'], top: ['conv_b'], params: 'convolution_param { num_output: 16 kernel_size: 3 pad: 2 dilation: 2 group: 4 }' },
    [
      { shape: [16, 2, 3, 3], data: heUniform(rng, 16 * 2 * 9, 18) },
      { shape: [16], data: uniform(rng, 16, -0.2, 0.2) },
    ],
  );
  // Factor 0: zero statistics, so this BatchNorm only divides by sqrt(eps) = 4.
  add({ name: 'bn_b', type: 'BatchNorm', bottom: ['conv_b'], top: ['conv_b'], params: 'batch_norm_param { eps: 0.0625 }' }, bnBlobs(rng, 16, 0));
  add({ name: 'tanh_b', type: 'TanH', bottom: ['conv_b'], top: ['tanh_b'] });
  add({ name: 'scale_c', type: 'Scale', bottom: ['tanh_b'], top: ['scale_c'], params: 'scale_param { bias_term: true }' }, [
    { shape: [16], data: uniform(rng, 16, -1.5, 1.5) },
    { shape: [16], data: uniform(rng, 16, -0.5, 0.5) },
  ]);
  add({ name: 'scale_d', type: 'Scale', bottom: ['tanh_b'], top: ['scale_d'], params: 'scale_param { axis: 1 num_axes: 2 }' }, [{ shape: [16, 20], data: uniform(rng, 320, -1, 1) }]);
  add({ name: 'sum', type: 'Eltwise', bottom: ['scale_c', 'scale_d'], top: ['sum'], params: 'eltwise_param { operation: SUM coeff: 0.5 coeff: -1.5 }' });
  add({ name: 'prod', type: 'Eltwise', bottom: ['scale_c', 'tanh_b'], top: ['prod'], params: 'eltwise_param { operation: PROD }' });
  add({ name: 'emax', type: 'Eltwise', bottom: ['sum', 'prod', 'tanh_b'], top: ['emax'], params: 'eltwise_param { operation: MAX }' });
  add({ name: 'sig', type: 'Sigmoid', bottom: ['emax'], top: ['sig'] });
  add({ name: 'split', type: 'Split', bottom: ['sig'], top: ['sig_a', 'sig_b'] });
  // 20x10, k3 s2: ceil gives 10x5 (floor would give 9x4).
  add({ name: 'pool_max', type: 'Pooling', bottom: ['sig_a'], top: ['pool_max'], params: 'pooling_param { pool: MAX kernel_size: 3 stride: 2 }' });
  add({ name: 'pool_ave', type: 'Pooling', bottom: ['sig_b'], top: ['pool_ave'], params: 'pooling_param { pool: AVE kernel_size: 3 stride: 2 }' });
  // k2 s2 pad 1: 11x6, the last window ends inside the padding.
  add({ name: 'pool_pad', type: 'Pooling', bottom: ['sig_b'], top: ['pool_pad'], params: 'pooling_param { pool: AVE kernel_size: 2 stride: 2 pad: 1 }' });
  add({ name: 'cat', type: 'Concat', bottom: ['pool_max', 'pool_ave'], top: ['cat'], params: 'concat_param { axis: 1 }' });
  add(
    { name: 'deconv', type: 'Deconvolution', bottom: ['cat'], top: ['deconv'], params: 'convolution_param { num_output: 8 kernel_size: 4 stride: 2 pad: 1 }' },
    [
      { shape: [32, 8, 4, 4], data: heUniform(rng, 32 * 8 * 16, 128) },
      { shape: [8], data: uniform(rng, 8, -0.2, 0.2) },
    ],
  );
  add({ name: 'lrn', type: 'LRN', bottom: ['deconv'], top: ['lrn'], params: 'lrn_param { local_size: 3 alpha: 0.5 beta: 0.75 }' });
  add({ name: 'drop', type: 'Dropout', bottom: ['lrn'], top: ['lrn'], params: 'dropout_param { dropout_ratio: 0.3 }' });
  add({ name: 'ip1', type: 'InnerProduct', bottom: ['lrn'], top: ['ip1'], params: 'inner_product_param { num_output: 10 }' }, [
    { shape: [10, 1600], data: heUniform(rng, 16000, 1600) },
    { shape: [10], data: uniform(rng, 10, -0.1, 0.1) },
  ]);
  add({ name: 'gpool', type: 'Pooling', bottom: ['lrn'], top: ['gpool'], params: 'pooling_param { pool: AVE global_pooling: true }' });
  // (OpenCV 4.6 ignores InnerProduct's `transpose` and LRN's `k`: those are checked against Caffe's
  // formulas in caffe-import.test.ts instead.)
  add({ name: 'ip2', type: 'InnerProduct', bottom: ['gpool'], top: ['ip2'], params: 'inner_product_param { num_output: 6 bias_term: false }' }, [
    { shape: [6, 8], data: heUniform(rng, 48, 8) },
  ]);
  // [N,16,11,6] -> Flatten(axis 2) [N,16,66] -> Permute [N,66,16] -> Reshape [N,264,4] -> Softmax(2).
  add({ name: 'flat', type: 'Flatten', bottom: ['pool_pad'], top: ['flat'], params: 'flatten_param { axis: 2 }' });
  add({ name: 'perm', type: 'Permute', bottom: ['flat'], top: ['perm'], params: 'permute_param { order: 0 order: 2 order: 1 }' });
  add({ name: 'resh', type: 'Reshape', bottom: ['perm'], top: ['resh'], params: 'reshape_param { shape { dim: 0 dim: -1 dim: 4 } }' });
  add({ name: 'prob', type: 'Softmax', bottom: ['resh'], top: ['prob'], params: 'softmax_param { axis: 2 }' });
  return fixture();
}

/**
 * An old-style classifier in the legacy V1 form (`layers { type: CONVOLUTION }`, input_dim),
 * written as a V1 caffemodel with unpacked floats and legacy 4-D blob shapes. Output 'prob' [N, 5].
 */
export function v1Net(seed = 5): CaffeFixture {
  const rng = new Prng(seed);
  const t = [
    'name: "v1net"',
    'input: "data"',
    'input_dim: 1',
    'input_dim: 3',
    'input_dim: 16',
    'input_dim: 16',
    'layers { name: "conv1" type: CONVOLUTION bottom: "data" top: "conv1" blobs_lr: 1 blobs_lr: 2 weight_decay: 1 weight_decay: 0',
    '  convolution_param { num_output: 6 kernel_size: 3 pad: 1 stride: 1 weight_filler { type: "gaussian" std: 0.01 } } }',
    'layers { name: "relu1" type: RELU bottom: "conv1" top: "conv1" }',
    'layers { name: "pool1" type: POOLING bottom: "conv1" top: "pool1" pooling_param { pool: MAX kernel_size: 3 stride: 2 } }',
    'layers { name: "norm1" type: LRN bottom: "pool1" top: "norm1" lrn_param { local_size: 5 alpha: 0.0001 beta: 0.75 } }',
    'layers { name: "fc1" type: INNER_PRODUCT bottom: "norm1" top: "fc1" inner_product_param { num_output: 12 } }',
    'layers { name: "relu2" type: RELU bottom: "fc1" top: "fc1" }',
    'layers { name: "drop1" type: DROPOUT bottom: "fc1" top: "fc1" dropout_param { dropout_ratio: 0.5 } }',
    'layers { name: "fc2" type: INNER_PRODUCT bottom: "fc1" top: "fc2" inner_product_param { num_output: 5 } }',
    'layers { name: "prob" type: SOFTMAX bottom: "fc2" top: "prob" }',
  ];
  // pool1: 16x16, k3 s2, ceil -> 8x8.
  const layers: CaffeLayerData[] = [
    { name: 'conv1', type: 'CONVOLUTION', blobs: [{ shape: [6, 3, 3, 3], data: heUniform(rng, 162, 27) }, { shape: [6], data: uniform(rng, 6, -0.1, 0.1) }] },
    { name: 'fc1', type: 'INNER_PRODUCT', blobs: [{ shape: [12, 384], data: heUniform(rng, 12 * 384, 384) }, { shape: [12], data: uniform(rng, 12, -0.1, 0.1) }] },
    { name: 'fc2', type: 'INNER_PRODUCT', blobs: [{ shape: [5, 12], data: heUniform(rng, 60, 12) }, { shape: [5], data: uniform(rng, 5, -0.1, 0.1) }] },
  ];
  return { prototxt: `${t.join('\n')}\n`, layers };
}

/**
 * A small SSD on a non-square input (48x64) with 4 classes: two heads with PriorBox settings the
 * MobileNet-SSD does not use (two min sizes, step, clip, one variance, flip off, offset), the
 * CORNER code type and a custom NMS configuration. Random weights, so many boxes score above the
 * threshold and NMS has work to do.
 */
export function tinySsdNet(seed = 3): CaffeFixture {
  const rng = new Prng(seed);
  const { add, fixture } = fixtureBuilder(inputHeader('data', [1, 3, 48, 64], 'tiny-ssd'));
  const conv = (name: string, bottom: string, cin: number, cout: number, k: number, s: number) => {
    add(
      { name, type: 'Convolution', bottom: [bottom], top: [name], params: `convolution_param { num_output: ${cout} bias_term: false kernel_size: ${k} stride: ${s} pad: ${(k - 1) / 2} }` },
      [{ shape: [cout, cin, k, k], data: heUniform(rng, cout * cin * k * k, cin * k * k) }],
    );
    add({ name: `${name}/bn`, type: 'BatchNorm', bottom: [name], top: [name] }, bnBlobs(rng, cout, 1000));
    add({ name: `${name}/scale`, type: 'Scale', bottom: [name], top: [name], params: 'scale_param { bias_term: true }' }, [
      { shape: [cout], data: uniform(rng, cout, 0.5, 1.5) },
      { shape: [cout], data: uniform(rng, cout, 0.2, 0.8) },
    ]);
    add({ name: `${name}/relu`, type: 'ReLU', bottom: [name], top: [name] });
  };
  conv('c1', 'data', 3, 8, 3, 2); // 24x32
  conv('c2', 'c1', 8, 16, 3, 2); // 12x16
  conv('c3', 'c2', 16, 16, 3, 2); // 6x8
  const numClasses = 4;
  const heads = [
    { src: 'c2', cin: 16, priors: 'min_size: 8 min_size: 14 max_size: 12 max_size: 20 aspect_ratio: 2 flip: false clip: true variance: 0.1 step: 4 offset: 0.5', p: 6 },
    { src: 'c3', cin: 16, priors: 'min_size: 20 aspect_ratio: 2 aspect_ratio: 3 flip: true clip: false variance: 0.1 variance: 0.1 variance: 0.2 variance: 0.2 offset: 0.25', p: 5 },
  ];
  for (const h of heads) {
    for (const kind of ['loc', 'conf'] as const) {
      const name = `${h.src}_mbox_${kind}`;
      const out = h.p * (kind === 'loc' ? 4 : numClasses);
      add({ name, type: 'Convolution', bottom: [h.src], top: [name], params: `convolution_param { num_output: ${out} kernel_size: 3 pad: 1 }` }, [
        { shape: [out, h.cin, 3, 3], data: heUniform(rng, out * h.cin * 9, h.cin * 9).map((v) => v * (kind === 'loc' ? 0.5 : 0.4)) },
        { shape: [out], data: uniform(rng, out, -0.2, 0.2) },
      ]);
      add({ name: `${name}_perm`, type: 'Permute', bottom: [name], top: [`${name}_perm`], params: 'permute_param { order: 0 order: 2 order: 3 order: 1 }' });
      add({ name: `${name}_flat`, type: 'Flatten', bottom: [`${name}_perm`], top: [`${name}_flat`], params: 'flatten_param { axis: 1 }' });
    }
    add({ name: `${h.src}_mbox_priorbox`, type: 'PriorBox', bottom: [h.src, 'data'], top: [`${h.src}_mbox_priorbox`], params: `prior_box_param { ${h.priors} }` });
  }
  const cat = (name: string, suffix: string, axis: number) => add({ name, type: 'Concat', bottom: heads.map((h) => `${h.src}_${suffix}`), top: [name], params: `concat_param { axis: ${axis} }` });
  cat('mbox_loc', 'mbox_loc_flat', 1);
  cat('mbox_conf', 'mbox_conf_flat', 1);
  cat('mbox_priorbox', 'mbox_priorbox', 2);
  add({ name: 'mbox_conf_reshape', type: 'Reshape', bottom: ['mbox_conf'], top: ['mbox_conf_reshape'], params: `reshape_param { shape { dim: 0 dim: -1 dim: ${numClasses} } }` });
  add({ name: 'mbox_conf_softmax', type: 'Softmax', bottom: ['mbox_conf_reshape'], top: ['mbox_conf_softmax'], params: 'softmax_param { axis: 2 }' });
  add({ name: 'mbox_conf_flatten', type: 'Flatten', bottom: ['mbox_conf_softmax'], top: ['mbox_conf_flatten'], params: 'flatten_param { axis: 1 }' });
  add({
    name: 'detection_out',
    type: 'DetectionOutput',
    bottom: ['mbox_loc', 'mbox_conf_flatten', 'mbox_priorbox'],
    top: ['detection_out'],
    extra: 'include { phase: TEST }',
    params: `detection_output_param { num_classes: ${numClasses} share_location: true background_label_id: 0 nms_param { nms_threshold: 0.5 top_k: 40 } code_type: CORNER keep_top_k: 25 confidence_threshold: 0.55 }`,
  });
  return fixture();
}
