// The SSD-MobileNetV1 face detector of face-api (the face-api.js weights shipped in the npm package
// @vladmandic/face-api) as an ONNX graph in this project's Caffe-SSD conventions. Background and
// every number used here: shared/reference/faceapi-ssd.md.
//
// Network (face-api src/ssdMobilenetv1/*.ts): conv0 (3x3 s2, BN pre-folded into an offset),
// 13 pairs of depthwise 3x3 conv + *real* BatchNorm (epsilon 1e-3) + ReLU6 and pointwise 1x1 conv +
// offset + ReLU6, 8 extra convs, six 1x1 heads (3,6,6,6,6,6 anchors on 32,16,8,4,2,1 at 512):
// the layer table of ../mobilenet-v1-ssd.ts under face-api's TF scope names.
//
// What the import has to get right (each one a silent error when wrong):
// - TF 'SAME' padding is asymmetric (the odd pixel goes bottom/right): explicit ONNX pads, computed
//   with TF's rule for the graph's fixed 512x512 input (every 3x3 stride-2 conv gets [0,0,1,1]);
// - BatchNormalization keeps the model's epsilon, float32(1e-3) as in face-api's mobileNetV1.ts,
//   not ONNX's/Caffe's 1e-5; the folder reads it from the node;
// - box encodings come as (ty, tx, th, tw): the box-head output channels are permuted to our
//   (tx, ty, tw, th), so Caffe CENTER_SIZE decoding with variances (0.1, 0.1, 0.2, 0.2) applies;
// - scores are sigmoid(logit 1) of 3 logits: each anchor gets a 2-channel class head (background:
//   zero weights and bias; face: logit 1) followed by a Softmax, and softmax([0, l]) = sigmoid(l);
// - anchors are the table stored in the weights (ymin, xmin, ymax, xmax); they become the spec's
//   prior table reordered to (xmin, ymin, xmax, ymax), unclipped, in the stored (head) order;
// - input: face-api feeds RGB scaled as x / 127.5 - 1; our blob is BGR (x - 127.5) * 0.007843. The
//   channel flip is folded into conv0's input-channel axis, and so is the scale difference: conv0's
//   weights are multiplied by 1 / (127.5 * 0.007843) (~ 1 + 1.75e-5), which makes conv0 see exactly
//   face-api's input (conv is linear and TF's zero padding stays zero), so the spec keeps the
//   project-wide mean 127.5 / scale 0.007843;
// - letterbox: face-api zero-pads to a square at the bottom/right, then resizes to 512 (the spec's
//   `resize: 'letterbox'`; zero pixels normalise to -1 on both sides).
import { SSD_SPEC_METADATA_KEY, type SsdSpec, serializeSsdSpec } from '@edge-ssd/ssd-core';
import { DEFAULT_IR_VERSION, DEFAULT_OPSET, GraphBuilder, type ModelProto, makeFloatTensor, makeInt64Tensor } from '@edge-ssd/onnx-io';
import { PRODUCER_NAME, PRODUCER_VERSION } from '../imported';
import { MOBILENET_V1_SSD_HEADS, MOBILENET_V1_SSD_LAYERS, type MobileNetV1Conv, mobileNetV1SsdFeatureMaps, mobileNetV1SsdPriorCount } from '../mobilenet-v1-ssd';
import { TfjsImportError, type TfjsTensor, type TfjsWeightMap } from './weights';

/** face-api's BatchNorm epsilon: `const epsilon = 0.0010000000474974513` (float32 1e-3). */
export const FACEAPI_BN_EPSILON = 0.0010000000474974513;
const FACEAPI_SSD_INPUT_SIZE = 512;
export const FACEAPI_SSD_PRIOR_COUNT = mobileNetV1SsdPriorCount(FACEAPI_SSD_INPUT_SIZE);
export const FACEAPI_SSD_NAME = 'faceapi-ssd-mobilenetv1-512';
const FACEAPI_SSD_LABELS: readonly string[] = Object.freeze(['background', 'face']);
const FACEAPI_SSD_VARIANCES: readonly number[] = Object.freeze([0.1, 0.1, 0.2, 0.2]);
const FACEAPI_SSD_INPUT = 'data';
const FACEAPI_SSD_OUTPUTS = { loc: 'mbox_loc', conf: 'mbox_conf' } as const;
/** Our blob normalisation (the project's MobileNet-SSD convention). */
const FACEAPI_SSD_MEAN = 127.5;
const FACEAPI_SSD_SCALE = 0.007843;
/** Folded into conv0 so that (x - 127.5) * 0.007843 reaches conv0 as face-api's x / 127.5 - 1. */
export const FACEAPI_INPUT_SCALE_CORRECTION = 1 / (127.5 * FACEAPI_SSD_SCALE);
/** The weights' anchors name; (ymin, xmin, ymax, xmax) per box. */
const FACEAPI_ANCHORS_WEIGHT = 'Output/extra_dim';

export interface FaceApiConv {
  /** TF scope, e.g. `MobilenetV1/Conv2d_3_pointwise`. */
  scope: string;
  kind: 'conv' | 'depthwise';
  kernel: number;
  stride: number;
  inChannels: number;
  outChannels: number;
}

/**
 * The TF scopes of the MobileNet v1 SSD table: the stem is `Conv2d_0_pointwise` although it is a
 * full 3x3 convolution, and the extra layers are numbered on through both halves.
 */
function faceApiScope(l: MobileNetV1Conv): string {
  switch (l.part) {
    case 'stem':
      return 'MobilenetV1/Conv2d_0_pointwise';
    case 'depthwise':
    case 'pointwise':
      return `MobilenetV1/Conv2d_${l.block}_${l.part}`;
    case 'reduce':
      return `Prediction/Conv2d_${2 * l.block - 2}_pointwise`;
    case 'expand':
      return `Prediction/Conv2d_${2 * l.block - 1}_pointwise`;
  }
}

/** The 35 backbone and extra convolutions, in order (reference §2). */
export const FACEAPI_SSD_LAYERS: readonly FaceApiConv[] = Object.freeze(
  MOBILENET_V1_SSD_LAYERS.map((l): FaceApiConv => ({ scope: faceApiScope(l), kind: l.part === 'depthwise' ? 'depthwise' : 'conv', kernel: l.kernel, stride: l.stride, inChannels: l.inChannels, outChannels: l.outChannels })),
);

export interface FaceApiHead {
  predictor: string;
  /** Scope of the conv whose (ReLU6) output the head reads. */
  source: string;
  inChannels: number;
  featureMap: number;
  anchors: number;
}

const FEATURE_MAPS = mobileNetV1SsdFeatureMaps(FACEAPI_SSD_INPUT_SIZE);

/** The six box predictors in concatenation order, at 512x512 (reference §2, "Heads"). */
export const FACEAPI_SSD_HEADS: readonly FaceApiHead[] = Object.freeze(
  MOBILENET_V1_SSD_HEADS.map((h, i) => ({ predictor: `Prediction/BoxPredictor_${i}`, source: FACEAPI_SSD_LAYERS[h.layer].scope, inChannels: h.inChannels, featureMap: FEATURE_MAPS[i], anchors: h.anchors })),
);

/** (ty, tx, th, tw) -> (tx, ty, tw, th): our channel j reads face-api's channel FACEAPI_LOC_PERMUTATION[j]. */
const FACEAPI_LOC_PERMUTATION: readonly number[] = Object.freeze([1, 0, 3, 2]);
/** face-api's class logit that holds the face score (sigmoid applied, others ignored). */
const FACEAPI_FACE_LOGIT = 1;

/**
 * TF 'SAME' padding along one axis (tfjs-core conv_util.ts): out = ceil(in / s),
 * total = max((out - 1) * s + k - in, 0), `before` = floor(total / 2), the rest after.
 */
export function tfSamePadding(inSize: number, kernel: number, stride: number): { out: number; before: number; after: number } {
  const out = Math.ceil(inSize / stride);
  const total = Math.max((out - 1) * stride + kernel - inSize, 0);
  const before = Math.floor(total / 2);
  return { out, before, after: total - before };
}

export interface BuildFaceApiSsdOptions {
  /**
   * BatchNormalization epsilon written into the graph. Default (and the only correct value):
   * FACEAPI_BN_EPSILON. Other values exist for experiments (showing that a wrong epsilon changes
   * the detections).
   */
  batchNormEpsilon?: number;
  /** doc_string of the model. */
  docString?: string;
  /** Extra metadata entries (provenance); the spec is always stored under `ssd.spec`. */
  metadata?: Readonly<Record<string, string>>;
}

function weight(weights: TfjsWeightMap, name: string, shape: readonly number[]): TfjsTensor {
  const t = weights.get(name);
  if (!t) throw new TfjsImportError(`weight '${name}' is missing: not the face-api SSD-MobileNetV1 manifest?`);
  if (t.dtype !== 'float32') throw new TfjsImportError(`weight '${name}' is ${t.dtype}, expected float32`);
  if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
    throw new TfjsImportError(`weight '${name}' has shape [${t.shape.join(',')}], expected [${shape.join(',')}]`);
  }
  return t;
}

/** Checks the graph constants TF exported alongside the weights, where present (they are sanity checks only). */
function checkConstants(weights: TfjsWeightMap): void {
  const expect = (name: string, values: readonly number[], tolerance = 0) => {
    const t = weights.get(name);
    if (!t) return;
    const got = Array.from(t.values);
    if (got.length !== values.length || got.some((v, i) => Math.abs(v - values[i]) > tolerance)) {
      throw new TfjsImportError(`constant '${name}' is [${got.join(',')}], expected [${values.join(',')}]: not the 512x512 face-api SSD`);
    }
  };
  expect('Postprocessor/stack/1', [FACEAPI_SSD_PRIOR_COUNT]);
  expect('Preprocessor/ResizeImage/size', [FACEAPI_SSD_INPUT_SIZE, FACEAPI_SSD_INPUT_SIZE]);
  expect('Preprocessor/mul/x', [1 / 127.5], 1e-7);
  expect('Preprocessor/sub/y', [1]);
  FACEAPI_SSD_HEADS.forEach((h, i) => expect(`Prediction/BoxPredictor_${i}/stack_1/1`, [h.featureMap * h.featureMap * h.anchors]));
}

/** HWIO [kh, kw, cin, cout] -> OIHW, optionally flipping the input-channel axis and scaling. */
function hwioToOihw(t: TfjsTensor, flipInput = false, scale = 1): Float64Array {
  const [kh, kw, cin, cout] = t.shape;
  const src = t.values;
  const out = new Float64Array(src.length);
  for (let h = 0; h < kh; h++) {
    for (let w = 0; w < kw; w++) {
      for (let i = 0; i < cin; i++) {
        const oi = flipInput ? cin - 1 - i : i;
        for (let o = 0; o < cout; o++) out[((o * cin + oi) * kh + h) * kw + w] = src[((h * kw + w) * cin + i) * cout + o] * scale;
      }
    }
  }
  return out;
}

/** Depthwise [kh, kw, C, 1] -> [C, 1, kh, kw]. */
function depthwiseToOihw(t: TfjsTensor): Float32Array {
  const [kh, kw, c] = t.shape;
  const src = t.values;
  const out = new Float32Array(src.length);
  for (let h = 0; h < kh; h++) for (let w = 0; w < kw; w++) for (let ch = 0; ch < c; ch++) out[(ch * kh + h) * kw + w] = src[(h * kw + w) * c + ch];
  return out;
}

/**
 * The anchors as our prior table: (xmin, ymin, xmax, ymax) per prior, from the stored
 * (ymin, xmin, ymax, xmax), in stored order, unclipped, float32 values unchanged.
 */
export function faceApiPriorTable(weights: TfjsWeightMap): Float32Array {
  const t = weight(weights, FACEAPI_ANCHORS_WEIGHT, [1, FACEAPI_SSD_PRIOR_COUNT, 4]);
  const out = new Float32Array(t.values.length);
  for (let p = 0; p < FACEAPI_SSD_PRIOR_COUNT; p++) {
    out[p * 4] = t.values[p * 4 + 1];
    out[p * 4 + 1] = t.values[p * 4];
    out[p * 4 + 2] = t.values[p * 4 + 3];
    out[p * 4 + 3] = t.values[p * 4 + 2];
  }
  return out;
}

/** The spec the model carries: face-api's settings in our SSD conventions. */
function faceApiSsdSpec(priorBoxes: ArrayLike<number>): SsdSpec {
  return {
    format: 'edge-ssd/v1',
    name: FACEAPI_SSD_NAME,
    input: {
      name: FACEAPI_SSD_INPUT,
      width: FACEAPI_SSD_INPUT_SIZE,
      height: FACEAPI_SSD_INPUT_SIZE,
      channelOrder: 'BGR',
      mean: [FACEAPI_SSD_MEAN, FACEAPI_SSD_MEAN, FACEAPI_SSD_MEAN],
      scale: FACEAPI_SSD_SCALE,
      resize: 'letterbox',
    },
    outputs: { loc: FACEAPI_SSD_OUTPUTS.loc, conf: FACEAPI_SSD_OUTPUTS.conf },
    labels: [...FACEAPI_SSD_LABELS],
    backgroundLabelId: 0,
    priors: { kind: 'table', boxes: Array.from(priorBoxes), variances: [...FACEAPI_SSD_VARIANCES] },
    codeType: 'CENTER_SIZE',
    varianceEncodedInTarget: false,
    // face-api clips its boxes to [0, 1] (of the padded square) before mapping them to the image.
    clipBoxes: true,
    // face-api: minConfidence 0.5 (strictly greater), IoU 0.5 (suppress when above), no top-k before
    // NMS, maxResults 100.
    nms: { scoreThreshold: 0.5, iouThreshold: 0.5, topK: -1, keepTopK: 100, eta: 1 },
  };
}

/**
 * Builds the unfolded ONNX graph (13 BatchNormalization nodes) from decoded face-api weights.
 * Input `data` [N, 3, 512, 512] BGR; outputs `mbox_loc` [N, 5118, 4] (tx, ty, tw, th) and
 * `mbox_conf` [N, 5118, 2] (softmax; channel 1 = face-api's face score).
 */
export function buildFaceApiSsd(weights: TfjsWeightMap, options: BuildFaceApiSsdOptions = {}): ModelProto {
  const epsilon = options.batchNormEpsilon ?? FACEAPI_BN_EPSILON;
  if (!(epsilon > 0) || !Number.isFinite(epsilon)) throw new RangeError(`batchNormEpsilon must be a positive number, got ${epsilon}`);
  checkConstants(weights);
  const priors = faceApiPriorTable(weights);

  const b = new GraphBuilder(FACEAPI_SSD_NAME);
  b.input(FACEAPI_SSD_INPUT, ['N', 3, FACEAPI_SSD_INPUT_SIZE, FACEAPI_SSD_INPUT_SIZE]);
  b.initializer(makeFloatTensor('relu6/min', [], [0]));
  b.initializer(makeFloatTensor('relu6/max', [], [6]));

  let tensor = FACEAPI_SSD_INPUT;
  let size = FACEAPI_SSD_INPUT_SIZE;
  const sources = new Map<string, { tensor: string; size: number; channels: number }>();
  for (const layer of FACEAPI_SSD_LAYERS) {
    const { scope, kernel: k, stride: s } = layer;
    const pad = tfSamePadding(size, k, s);
    const attrs = {
      kernel_shape: [k, k],
      strides: [s, s],
      // [top, left, bottom, right]; square input and kernel, so both axes pad alike.
      pads: [pad.before, pad.before, pad.after, pad.after],
      dilations: [1, 1],
      group: layer.kind === 'depthwise' ? layer.inChannels : 1,
    };
    if (layer.kind === 'depthwise') {
      const c = layer.inChannels;
      const w = weight(weights, `${scope}/depthwise_weights`, [k, k, c, 1]);
      b.initializer(makeFloatTensor(`${scope}/depthwise_weights`, [c, 1, k, k], depthwiseToOihw(w)));
      b.node('Conv', [tensor, `${scope}/depthwise_weights`], [scope], attrs, scope);
      const bnInputs = [scope];
      // ONNX order: scale (gamma), B (beta), mean, var.
      for (const tfName of ['gamma', 'beta', 'moving_mean', 'moving_variance']) {
        const name = `${scope}/BatchNorm/${tfName}`;
        b.initializer(makeFloatTensor(name, [c], weight(weights, name, [c]).values));
        bnInputs.push(name);
      }
      b.node('BatchNormalization', bnInputs, [`${scope}/BatchNorm`], { epsilon: { float: epsilon } }, `${scope}/BatchNorm`);
      tensor = `${scope}/BatchNorm`;
    } else {
      const first = scope === FACEAPI_SSD_LAYERS[0].scope;
      const w = weight(weights, `${scope}/weights`, [k, k, layer.inChannels, layer.outChannels]);
      // conv0 takes our BGR blob: flip its input channels and absorb 1 / (127.5 * 0.007843).
      const oihw = first ? hwioToOihw(w, true, FACEAPI_INPUT_SCALE_CORRECTION) : hwioToOihw(w);
      b.initializer(makeFloatTensor(`${scope}/weights`, [layer.outChannels, layer.inChannels, k, k], oihw));
      const offset = `${scope}/convolution_bn_offset`;
      b.initializer(makeFloatTensor(offset, [layer.outChannels], weight(weights, offset, [layer.outChannels]).values));
      b.node('Conv', [tensor, `${scope}/weights`, offset], [scope], attrs, scope);
      tensor = scope;
    }
    b.node('Clip', [tensor, 'relu6/min', 'relu6/max'], [`${scope}/Relu6`], {}, `${scope}/Relu6`);
    tensor = `${scope}/Relu6`;
    size = pad.out;
    sources.set(scope, { tensor, size, channels: layer.outChannels });
  }

  b.initializer(makeInt64Tensor('mbox_loc/shape', [3], [0, -1, 4]));
  b.initializer(makeInt64Tensor('mbox_conf/shape', [3], [0, -1, FACEAPI_SSD_LABELS.length]));
  const locParts: string[] = [];
  const confParts: string[] = [];
  for (const head of FACEAPI_SSD_HEADS) {
    const source = sources.get(head.source);
    if (!source || source.size !== head.featureMap || source.channels !== head.inChannels) {
      throw new Error(`head ${head.predictor}: source ${head.source} does not give ${head.inChannels}x${head.featureMap}x${head.featureMap}`);
    }
    const A = head.anchors;
    const C = head.inChannels;
    const headAttrs = { kernel_shape: [1, 1], strides: [1, 1], pads: [0, 0, 0, 0], dilations: [1, 1], group: 1 };

    // Box head: per anchor, our channel j <- face-api channel FACEAPI_LOC_PERMUTATION[j].
    const boxW = weight(weights, `${head.predictor}/BoxEncodingPredictor/weights`, [1, 1, C, 4 * A]);
    const boxB = weight(weights, `${head.predictor}/BoxEncodingPredictor/biases`, [4 * A]);
    const locW = new Float32Array(4 * A * C);
    const locB = new Float32Array(4 * A);
    for (let a = 0; a < A; a++) {
      for (let j = 0; j < 4; j++) {
        const o = a * 4 + j;
        const src = a * 4 + FACEAPI_LOC_PERMUTATION[j];
        for (let i = 0; i < C; i++) locW[o * C + i] = boxW.values[i * 4 * A + src];
        locB[o] = boxB.values[src];
      }
    }
    // Class head: per anchor, channel 0 (background) all zero, channel 1 = face-api logit 1.
    const clsW = weight(weights, `${head.predictor}/ClassPredictor/weights`, [1, 1, C, 3 * A]);
    const clsB = weight(weights, `${head.predictor}/ClassPredictor/biases`, [3 * A]);
    const confW = new Float32Array(2 * A * C);
    const confB = new Float32Array(2 * A);
    for (let a = 0; a < A; a++) {
      const src = a * 3 + FACEAPI_FACE_LOGIT;
      for (let i = 0; i < C; i++) confW[(a * 2 + 1) * C + i] = clsW.values[i * 3 * A + src];
      confB[a * 2 + 1] = clsB.values[src];
    }

    for (const [kind, w, bias, depth, parts] of [
      ['loc', locW, locB, 4, locParts],
      ['conf', confW, confB, 2, confParts],
    ] as const) {
      const name = `${head.predictor}/mbox_${kind}`;
      b.initializer(makeFloatTensor(`${name}/weights`, [A * depth, C, 1, 1], w));
      b.initializer(makeFloatTensor(`${name}/biases`, [A * depth], bias));
      b.node('Conv', [source.tensor, `${name}/weights`, `${name}/biases`], [name], headAttrs, name);
      b.node('Transpose', [name], [`${name}/perm`], { perm: [0, 2, 3, 1] }, `${name}/perm`);
      b.node('Reshape', [`${name}/perm`, `mbox_${kind}/shape`], [`${name}/flat`], {}, `${name}/flat`);
      parts.push(`${name}/flat`);
    }
  }
  b.node('Concat', locParts, [FACEAPI_SSD_OUTPUTS.loc], { axis: 1 }, 'mbox_loc');
  b.node('Concat', confParts, ['mbox_conf/logits'], { axis: 1 }, 'mbox_conf/concat');
  b.node('Softmax', ['mbox_conf/logits'], [FACEAPI_SSD_OUTPUTS.conf], { axis: -1 }, 'mbox_conf');
  b.output(FACEAPI_SSD_OUTPUTS.loc, ['N', FACEAPI_SSD_PRIOR_COUNT, 4]);
  b.output(FACEAPI_SSD_OUTPUTS.conf, ['N', FACEAPI_SSD_PRIOR_COUNT, FACEAPI_SSD_LABELS.length]);

  return b.model({
    irVersion: DEFAULT_IR_VERSION,
    opsetVersion: DEFAULT_OPSET,
    producerName: PRODUCER_NAME,
    producerVersion: PRODUCER_VERSION,
    docString:
      options.docString ??
      'face-api SSD-MobileNetV1 face detector (face-api.js weights, trained by yeephycho on WIDER FACE), imported from tfjs weights; BGR 512x512 letterboxed input, Caffe-SSD heads',
    metadata: { ...(options.metadata ?? {}), [SSD_SPEC_METADATA_KEY]: serializeSsdSpec(faceApiSsdSpec(priors)) },
  });
}
