// The default model: chuanqi305 MobileNet-SSD (VOC, 300x300) in its BatchNorm form, as ONNX, with
// synthetic but realistic weights.
//
// Layout follows deploy.prototxt (see shared/reference/mobilenet-ssd.md §1): 35 backbone/extra
// convolutions, each Conv (no bias) -> BatchNormalization -> Relu, six 1x1 heads with bias reading
// the post-ReLU tensors, Transpose(0,2,3,1) -> Reshape [N,-1,D] per head, Concat on axis 1, and a
// Softmax over the 21 classes. Node names are the Caffe layer names.
//
// Weights: there are no trained weights in this workspace, so they are generated from a seeded PRNG
// and then *calibrated* on a deterministic synthetic image with a plain-JS forward pass:
// - BN running statistics are the measured per-channel statistics of each conv's output (shrunk
//   towards the layer-wide statistics when a feature map is tiny, and lightly jittered), so
//   activations stay well scaled through all 35 layers, as they do in a trained network;
// - each head's logits are centred and scaled to a target spread, and the background class gets
//   a positive bias, so on natural-looking inputs a handful of priors score a non-background
//   class above the 0.25 deploy threshold: a detector shows a few detections, not none and not
//   one per prior.
// Everything is integer/IEEE-exact arithmetic, so the same seed gives the same bytes everywhere.
import { MOBILENET_SSD_VOC_300, SSD_SPEC_METADATA_KEY, serializeSsdSpec } from '@edge-ssd/ssd-core';
import { DEFAULT_IR_VERSION, DEFAULT_OPSET, GraphBuilder, type ModelProto, encodeModel, makeFloatTensor, makeInt64Tensor } from '@edge-ssd/onnx-io';
import { Prng } from '@edge-ssd/prng';
import { type ImportedModel, PRODUCER_NAME, PRODUCER_VERSION } from '../imported';
import { MOBILENET_V1_SSD_HEADS, MOBILENET_V1_SSD_LAYERS, type MobileNetV1Conv, mobileNetV1SsdFeatureMaps, mobileNetV1SsdPriorCount } from '../mobilenet-v1-ssd';
import { type FeatureMap, batchNormRelu, channelStats, conv2d } from './reference-ops';

export interface ConvLayerSpec {
  name: string;
  kernel: number;
  stride: number;
  pad: number;
  group: number;
  inChannels: number;
  outChannels: number;
}

/** chuanqi305's layer names for the MobileNet v1 SSD table: conv0, conv1/dw + conv1 .. conv13, conv14_1 + conv14_2 .. conv17_2. */
function caffeLayerName(l: MobileNetV1Conv): string {
  switch (l.part) {
    case 'stem':
      return 'conv0';
    case 'depthwise':
      return `conv${l.block}/dw`;
    case 'pointwise':
      return `conv${l.block}`;
    case 'reduce':
      return `conv${13 + l.block}_1`;
    case 'expand':
      return `conv${13 + l.block}_2`;
  }
}

/** The 35 backbone/extra convolutions of deploy.prototxt, in order (layer table, §1); Caffe pads 3x3 kernels by 1. */
export const MOBILENET_SSD_LAYERS: readonly ConvLayerSpec[] = Object.freeze(
  MOBILENET_V1_SSD_LAYERS.map((l) => ({ name: caffeLayerName(l), kernel: l.kernel, stride: l.stride, pad: (l.kernel - 1) / 2, group: l.group, inChannels: l.inChannels, outChannels: l.outChannels })),
);

export interface HeadSpec {
  /** Backbone layer whose post-ReLU output the head reads. */
  source: string;
  inChannels: number;
  featureMap: number;
  /** Priors per feature-map cell. */
  priors: number;
}

const MOBILENET_SSD_INPUT_SIZE = MOBILENET_SSD_VOC_300.input.width;
const FEATURE_MAPS = mobileNetV1SsdFeatureMaps(MOBILENET_SSD_INPUT_SIZE);

/** The six SSD heads (§1.1), in concatenation order. */
export const MOBILENET_SSD_HEADS: readonly HeadSpec[] = Object.freeze(
  MOBILENET_V1_SSD_HEADS.map((h, i) => ({ source: MOBILENET_SSD_LAYERS[h.layer].name, inChannels: h.inChannels, featureMap: FEATURE_MAPS[i], priors: h.anchors })),
);

const MOBILENET_SSD_NUM_CLASSES = 21;
export const MOBILENET_SSD_PRIOR_COUNT = mobileNetV1SsdPriorCount(MOBILENET_SSD_INPUT_SIZE);
const MOBILENET_SSD_INPUT = 'data';
const MOBILENET_SSD_OUTPUTS = { loc: 'mbox_loc', conf: 'mbox_conf' } as const;
/** Caffe's BatchNorm default eps (batch_norm_param.eps, 1e-5). */
const CAFFE_BN_EPSILON = 1e-5;
export const DEFAULT_MODEL_SEED = 20180101;

export interface WriteMobileNetSsdOptions {
  /** PRNG seed for the weights; the default gives the project's default model. */
  seed?: number;
}

// ---- calibration targets (tuned with onnxruntime on gradient, noise and synthetic-scene inputs) --

/**
 * beta / |gamma| range. Positive betas keep most ReLUs active, as in trained MobileNets; with
 * zero-mean betas a random BN-ReLU stack amplifies small perturbations by ~1.2x per layer (the
 * known BN "gradient explosion"), so float32 rounding differences between the folded and
 * unfolded graphs would grow ~600x over 35 layers and no fold could meet rtol 1e-4.
 */
const BETA_OVER_GAMMA: readonly [number, number] = [1.2, 2.2];
/** Pseudo-count for shrinking per-channel statistics towards layer-wide ones (small maps). */
const STAT_SHRINKAGE = 16;
/** Spread (std) of the class logits on the calibration image. */
const CONF_LOGIT_STD = 1.05;
/** Spread of the background logit, and its bias: background wins on most priors. */
const BACKGROUND_LOGIT_STD = 0.6;
const BACKGROUND_BIAS = 4.3;
/** Spread of the class biases (some classes are a priori more likely, as after training). */
const CLASS_BIAS_SPREAD = 0.3;
/** Spread of the box regression outputs (tx, ty, tw, th before variances). */
const LOC_STD = 0.5;

export function writeMobileNetSsd(options: WriteMobileNetSsdOptions = {}): Uint8Array {
  return encodeModel(buildMobileNetSsd(options));
}

/** The seeded model as a front end's import: what `model prepare mobilenet-ssd-voc-300` converts. */
export function importSeededMobileNetSsd(options: WriteMobileNetSsdOptions = {}): ImportedModel {
  const t0 = performance.now();
  const model = buildMobileNetSsd(options);
  const seed = options.seed ?? DEFAULT_MODEL_SEED;
  return {
    model,
    provenance: {
      source: `seeded MobileNet-SSD (seed ${seed})`,
      files: [],
      lines: [`seeded: chuanqi305's MobileNet-SSD VOC 300 layout, weights from seed ${seed} (meaningless detections)`],
      details: { format: 'seeded', seed },
    },
    timings: { readMs: 0, importMs: performance.now() - t0 },
  };
}

export function buildMobileNetSsd(options: WriteMobileNetSsdOptions = {}): ModelProto {
  const seed = options.seed ?? DEFAULT_MODEL_SEED;
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) throw new RangeError(`seed must be an integer in [0, 2^32), got ${seed}`);
  const rng = new Prng(seed);
  const b = new GraphBuilder('mobilenet-ssd-voc-300');
  b.input(MOBILENET_SSD_INPUT, ['N', 3, MOBILENET_SSD_INPUT_SIZE, MOBILENET_SSD_INPUT_SIZE]);

  let batch = calibrationBatch(rng.fork('calibration-images'), MOBILENET_SSD_INPUT_SIZE);
  let tensor = MOBILENET_SSD_INPUT;
  const sources = new Map<string, { batch: FeatureMap[]; tensor: string }>();

  for (const layer of MOBILENET_SSD_LAYERS) {
    const lr = rng.fork(layer.name);
    const weight = convWeights(lr, layer);
    const convParams = { outChannels: layer.outChannels, kernel: layer.kernel, stride: layer.stride, pad: layer.pad, group: layer.group, weight };
    const convOut = batch.map((x) => conv2d(x, convParams));
    const bn = batchNormFromStats(lr, convOut);
    batch = convOut.map((x) => batchNormRelu(x, { ...bn, epsilon: CAFFE_BN_EPSILON }));

    const n = layer.name;
    const c = layer.outChannels;
    b.initializer(makeFloatTensor(`${n}/W`, [c, layer.inChannels / layer.group, layer.kernel, layer.kernel], weight));
    b.node('Conv', [tensor, `${n}/W`], [n], convAttrs(layer), n);
    b.initializer(makeFloatTensor(`${n}/bn/scale`, [c], bn.scale));
    b.initializer(makeFloatTensor(`${n}/bn/B`, [c], bn.bias));
    b.initializer(makeFloatTensor(`${n}/bn/mean`, [c], bn.mean));
    b.initializer(makeFloatTensor(`${n}/bn/var`, [c], bn.variance));
    b.node('BatchNormalization', [n, `${n}/bn/scale`, `${n}/bn/B`, `${n}/bn/mean`, `${n}/bn/var`], [`${n}/bn`], { epsilon: { float: CAFFE_BN_EPSILON } }, `${n}/bn`);
    b.node('Relu', [`${n}/bn`], [`${n}/relu`], {}, `${n}/relu`);
    tensor = `${n}/relu`;
    // Keep only what the heads read: full-resolution maps of early layers are large.
    if (MOBILENET_SSD_HEADS.some((h) => h.source === n)) sources.set(n, { batch, tensor });
  }

  b.initializer(makeInt64Tensor('mbox_loc_shape', [3], [0, -1, 4]));
  b.initializer(makeInt64Tensor('mbox_conf_shape', [3], [0, -1, MOBILENET_SSD_NUM_CLASSES]));
  const locParts: string[] = [];
  const confParts: string[] = [];
  for (const head of MOBILENET_SSD_HEADS) {
    const source = sources.get(head.source);
    if (!source) throw new Error(`head source ${head.source} missing`);
    const hr = rng.fork(`${head.source}_mbox`);
    for (const kind of ['loc', 'conf'] as const) {
      const name = `${head.source}_mbox_${kind}`;
      const depth = kind === 'loc' ? 4 : MOBILENET_SSD_NUM_CLASSES;
      const { weight, bias } = kind === 'loc' ? locHead(hr, head, source.batch) : confHead(hr, head, source.batch);
      const outChannels = head.priors * depth;
      b.initializer(makeFloatTensor(`${name}/W`, [outChannels, head.inChannels, 1, 1], weight));
      b.initializer(makeFloatTensor(`${name}/B`, [outChannels], bias));
      b.node('Conv', [source.tensor, `${name}/W`, `${name}/B`], [name], { kernel_shape: [1, 1], strides: [1, 1], pads: [0, 0, 0, 0], dilations: [1, 1], group: 1 }, name);
      b.node('Transpose', [name], [`${name}_perm`], { perm: [0, 2, 3, 1] }, `${name}_perm`);
      b.node('Reshape', [`${name}_perm`, `mbox_${kind}_shape`], [`${name}_flat`], {}, `${name}_flat`);
      (kind === 'loc' ? locParts : confParts).push(`${name}_flat`);
    }
  }
  b.node('Concat', locParts, [MOBILENET_SSD_OUTPUTS.loc], { axis: 1 }, 'mbox_loc');
  b.node('Concat', confParts, ['mbox_conf_logits'], { axis: 1 }, 'mbox_conf');
  b.node('Softmax', ['mbox_conf_logits'], [MOBILENET_SSD_OUTPUTS.conf], { axis: -1 }, 'mbox_conf_softmax');
  b.output(MOBILENET_SSD_OUTPUTS.loc, ['N', MOBILENET_SSD_PRIOR_COUNT, 4]);
  b.output(MOBILENET_SSD_OUTPUTS.conf, ['N', MOBILENET_SSD_PRIOR_COUNT, MOBILENET_SSD_NUM_CLASSES]);

  return b.model({
    irVersion: DEFAULT_IR_VERSION,
    opsetVersion: DEFAULT_OPSET,
    producerName: PRODUCER_NAME,
    producerVersion: PRODUCER_VERSION,
    docString: `chuanqi305 MobileNet-SSD (VOC, 300x300) layout with BatchNorm, synthetic calibrated weights (seed ${seed})`,
    metadata: { [SSD_SPEC_METADATA_KEY]: serializeSsdSpec(MOBILENET_SSD_VOC_300) },
  });
}

function convAttrs(layer: ConvLayerSpec): Record<string, number | number[]> {
  const { kernel: k, stride: s, pad: p } = layer;
  return { kernel_shape: [k, k], strides: [s, s], pads: [p, p, p, p], dilations: [1, 1], group: layer.group };
}

/** He-uniform weights (bound sqrt(6 / fan_in)) with a per-output-channel gain in [0.5, 2]. */
function convWeights(rng: Prng, layer: ConvLayerSpec): Float32Array {
  const fanIn = (layer.inChannels / layer.group) * layer.kernel * layer.kernel;
  const bound = Math.sqrt(6 / fanIn);
  const w = new Float32Array(layer.outChannels * fanIn);
  for (let co = 0; co < layer.outChannels; co++) {
    const gain = rng.uniform(0.5, 2);
    for (let i = 0; i < fanIn; i++) w[co * fanIn + i] = rng.uniform(-bound, bound) * gain;
  }
  return w;
}

interface BnValues {
  scale: Float32Array;
  bias: Float32Array;
  mean: Float32Array;
  variance: Float32Array;
}

/**
 * BN parameters from measured conv-output statistics. Per-channel statistics are shrunk towards
 * the layer-wide ones with a pseudo-count (so a 1x1 feature map still gets a sensible variance),
 * then jittered a little: running statistics never match one image exactly. gamma is mostly in
 * [0.5, 1.5] with a few negative values; beta is positive (see BETA_OVER_GAMMA).
 */
function batchNormFromStats(rng: Prng, convOut: readonly FeatureMap[]): BnValues {
  const stats = channelStats(convOut);
  const C = convOut[0].channels;
  const n = stats.count;
  const k = STAT_SHRINKAGE;
  let layerMean = 0;
  for (let c = 0; c < C; c++) layerMean += stats.mean[c];
  layerMean /= C;
  let layerVar = 0;
  for (let c = 0; c < C; c++) layerVar += stats.variance[c] + (stats.mean[c] - layerMean) ** 2;
  layerVar /= C;
  const out: BnValues = { scale: new Float32Array(C), bias: new Float32Array(C), mean: new Float32Array(C), variance: new Float32Array(C) };
  for (let c = 0; c < C; c++) {
    const m = (n * stats.mean[c] + k * layerMean) / (n + k);
    const v = (n * (stats.variance[c] + (stats.mean[c] - m) ** 2) + k * (layerVar + (layerMean - m) ** 2)) / (n + k);
    const variance = v * rng.uniform(0.8, 1.25);
    out.variance[c] = variance;
    out.mean[c] = m + 0.1 * Math.sqrt(variance) * rng.normalish();
    out.scale[c] = rng.next() < 0.04 ? -rng.uniform(0.2, 0.8) : rng.uniform(0.5, 1.5);
    out.bias[c] = Math.abs(out.scale[c]) * rng.uniform(BETA_OVER_GAMMA[0], BETA_OVER_GAMMA[1]);
  }
  return out;
}

/** 1x1 head output (no bias) for calibration: [outChannels][cells]. */
function headResponse(batch: readonly FeatureMap[], weight: Float32Array, outChannels: number): FeatureMap[] {
  return batch.map((fm) => conv2d(fm, { outChannels, kernel: 1, stride: 1, pad: 0, group: 1, weight }));
}

/**
 * Per-channel centring offsets and the spread left after centring. Centring is shrunk like the BN
 * statistics: on a 1x1 map one value says little about the channel's mean over images.
 */
function centring(resp: readonly FeatureMap[]): { offset: Float64Array; spread: Float64Array } {
  const stats = channelStats(resp);
  const C = resp[0].channels;
  const f = stats.count / (stats.count + STAT_SHRINKAGE);
  const offset = new Float64Array(C);
  const spread = new Float64Array(C);
  for (let c = 0; c < C; c++) {
    offset[c] = stats.mean[c] * f;
    spread[c] = stats.variance[c] + (stats.mean[c] * (1 - f)) ** 2;
  }
  return { offset, spread };
}

function rawHeadWeights(rng: Prng, outChannels: number, inChannels: number): Float32Array {
  const bound = Math.sqrt(6 / inChannels);
  const w = new Float32Array(outChannels * inChannels);
  for (let i = 0; i < w.length; i++) w[i] = rng.uniform(-bound, bound);
  return w;
}

/**
 * A 1x1 head whose every output channel has, on the calibration batch, mean `bias[o]` and spread
 * `std(o)`: random directions, per-channel gains, centring offsets folded into the bias.
 * Per-channel (not per-head) scaling keeps one channel that happens to align with a dominant
 * feature direction from firing on every image.
 */
function calibratedHead(rng: Prng, head: HeadSpec, batch: readonly FeatureMap[], outChannels: number, std: (o: number) => number, bias: (o: number) => number): { weight: Float32Array; bias: Float32Array } {
  const raw = rawHeadWeights(rng, outChannels, head.inChannels);
  const { offset, spread } = centring(headResponse(batch, raw, outChannels));
  const meanSpread = spread.reduce((a, b) => a + b, 0) / outChannels;
  const weight = new Float32Array(raw.length);
  const b = new Float32Array(outChannels);
  for (let o = 0; o < outChannels; o++) {
    // The floor keeps a (near-)constant channel from getting a huge gain.
    const gain = std(o) / Math.sqrt(spread[o] + 0.01 * meanSpread);
    for (let i = 0; i < head.inChannels; i++) weight[o * head.inChannels + i] = raw[o * head.inChannels + i] * gain;
    b[o] = -offset[o] * gain + bias(o);
  }
  return { weight, bias: b };
}

function locHead(rng: Prng, head: HeadSpec, batch: readonly FeatureMap[]): { weight: Float32Array; bias: Float32Array } {
  return calibratedHead(rng, head, batch, head.priors * 4, () => LOC_STD, () => rng.uniform(-0.1, 0.1));
}

/** Channel k*21 + c is class c of prior k; class 0 is the background. */
function confHead(rng: Prng, head: HeadSpec, batch: readonly FeatureMap[]): { weight: Float32Array; bias: Float32Array } {
  const classes = MOBILENET_SSD_NUM_CLASSES;
  const classBias = Array.from({ length: classes }, () => rng.uniform(-CLASS_BIAS_SPREAD, CLASS_BIAS_SPREAD));
  return calibratedHead(
    rng,
    head,
    batch,
    head.priors * classes,
    (o) => (o % classes === 0 ? BACKGROUND_LOGIT_STD : CONF_LOGIT_STD),
    (o) => (o % classes === 0 ? BACKGROUND_BIAS : classBias[o % classes]),
  );
}

/**
 * The calibration batch: one image whose left half is a synthetic scene and right half white
 * noise, both in [-1, 1]. Statistics pooled over both halves keep the network well scaled for
 * smooth photos and for noise alike; one image instead of two halves the writer's time.
 */
function calibrationBatch(rng: Prng, size = 300): FeatureMap[] {
  const scene = calibrationImage(rng.fork('scene'), size);
  const noiseRng = rng.fork('noise');
  const data = new Float64Array(3 * size * size);
  for (let i = 0; i < data.length; i++) {
    const noise = noiseRng.uniform(-1, 1);
    data[i] = i % size < size / 2 ? scene.data[i] : noise;
  }
  return [{ channels: 3, height: size, width: size, data }];
}

/**
 * The calibration scene, in the model's normalised range [-1, 1]: a smooth two-axis colour
 * gradient with a few flat-coloured shapes and mild pixel noise, i.e. the statistics of a natural
 * photo rather than of white noise.
 */
function calibrationImage(rng: Prng, size = 300): FeatureMap {
  const data = new Float64Array(3 * size * size);
  const shapes = Array.from({ length: 6 }, () => ({
    cx: rng.uniform(0.1, 0.9) * size,
    cy: rng.uniform(0.1, 0.9) * size,
    r: rng.uniform(0.06, 0.2) * size,
    square: rng.next() < 0.5,
    colour: [rng.uniform(-0.9, 0.9), rng.uniform(-0.9, 0.9), rng.uniform(-0.9, 0.9)],
  }));
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const u = x / (size - 1);
      const v = y / (size - 1);
      let px = [0.8 * u - 0.4 + 0.3 * v, 0.6 * v - 0.5 * u, 0.5 - 0.9 * u * v];
      for (const s of shapes) {
        const dx = x - s.cx;
        const dy = y - s.cy;
        const inside = s.square ? Math.abs(dx) < s.r && Math.abs(dy) < s.r : dx * dx + dy * dy < s.r * s.r;
        if (inside) px = s.colour;
      }
      for (let c = 0; c < 3; c++) {
        const val = px[c] + 0.05 * (rng.next() - 0.5);
        data[(c * size + y) * size + x] = Math.max(-1, Math.min(1, val));
      }
    }
  }
  return { channels: 3, height: size, width: size, data };
}
