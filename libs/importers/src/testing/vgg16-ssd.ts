// weiliu89's VGG16-SSD 300 (SSD300, PASCAL VOC 07+12) as a Caffe deploy prototxt with seeded
// weights written by our caffemodel writer: the fixture of the VGG16-SSD import tests, the
// anatomy report and the bench.
//
// The layer structure, parameters and names follow weiliu89/caffe@ssd
// `models/VGGNet/VOC0712/SSD_300x300/deploy.prototxt` (generated there by
// `examples/ssd/ssd_pascal.py`; weiliu89/caffe is BSD-2-Clause, Copyright (c) 2014-2017 The
// Regents of the University of California (BVLC) and contributors). The text is generated here,
// not copied: VGG16 with pool5 at 3x3 stride 1 pad 1, fc6 as a 3x3 convolution with dilation 6,
// fc7 1x1, the extra layers conv6_1 .. conv9_2, conv4_3_norm (Normalize: per position, a scale per
// channel initialised to 20), 3x3 heads on conv4_3_norm, fc7, conv6_2, conv7_2, conv8_2 and
// conv9_2 with PriorBox steps 8, 16, 32, 64, 100, 300 and offset 0.5 (8732 priors), and the
// deploy DetectionOutput (NMS 0.45, top_k 400, keep_top_k 200, confidence 0.01).
//
// The weights are not VGG16's: He-uniform convolutions (gains chosen so activations stay near 1
// through 23 layers), Normalize scales around 20, and head gains and a background bias that leave
// a few dozen confident detections per photo, so that comparisons of detections prove something.
import { Prng } from '@edge-ssd/prng';
import type { CaffeLayerData } from './caffe-writer';
import { type CaffeFixture, inputHeader, layerText, ssdOutputLayers } from './caffe-nets';

/** weiliu89's training transform_param: BGR, mean_value 104, 117, 123, no scale. */
export const VGG16_SSD_PREPROCESS = Object.freeze({ mean: [104, 117, 123] as [number, number, number], scale: 1, channelOrder: 'BGR' as const });

interface ConvSpec {
  name: string;
  out: number;
  kernel: number;
  pad: number;
  stride: number;
  dilation?: number;
}

const conv = (name: string, out: number, kernel = 3, pad = 1, stride = 1, dilation?: number): ConvSpec => ({ name, out, kernel, pad, stride, dilation });

/** Layers in prototxt order: convolutions (each followed by its ReLU) and pools. */
const BODY: readonly (ConvSpec | { pool: string; kernel: number; stride: number; pad: number })[] = [
  conv('conv1_1', 64),
  conv('conv1_2', 64),
  { pool: 'pool1', kernel: 2, stride: 2, pad: 0 },
  conv('conv2_1', 128),
  conv('conv2_2', 128),
  { pool: 'pool2', kernel: 2, stride: 2, pad: 0 },
  conv('conv3_1', 256),
  conv('conv3_2', 256),
  conv('conv3_3', 256),
  { pool: 'pool3', kernel: 2, stride: 2, pad: 0 },
  conv('conv4_1', 512),
  conv('conv4_2', 512),
  conv('conv4_3', 512),
  { pool: 'pool4', kernel: 2, stride: 2, pad: 0 },
  conv('conv5_1', 512),
  conv('conv5_2', 512),
  conv('conv5_3', 512),
  { pool: 'pool5', kernel: 3, stride: 1, pad: 1 },
  conv('fc6', 1024, 3, 6, 1, 6),
  conv('fc7', 1024, 1, 0),
  conv('conv6_1', 256, 1, 0),
  conv('conv6_2', 512, 3, 1, 2),
  conv('conv7_1', 128, 1, 0),
  conv('conv7_2', 256, 3, 1, 2),
  conv('conv8_1', 128, 1, 0),
  conv('conv8_2', 256, 3, 0),
  conv('conv9_1', 128, 1, 0),
  conv('conv9_2', 256, 3, 0),
];

/** ReLU layer names as in the deploy prototxt: relu1_1 ... relu5_3, relu6, relu7, conv6_1_relu ... */
function reluName(conv: string): string {
  const vgg = /^conv([1-5]_\d)$/.exec(conv);
  if (vgg) return `relu${vgg[1]}`;
  if (conv === 'fc6') return 'relu6';
  if (conv === 'fc7') return 'relu7';
  return `${conv}_relu`;
}

interface HeadSpec {
  source: string;
  inChannels: number;
  minSize: number;
  maxSize: number;
  aspectRatios: number[];
  step: number;
  priors: number;
}

const HEADS: readonly HeadSpec[] = [
  { source: 'conv4_3_norm', inChannels: 512, minSize: 30, maxSize: 60, aspectRatios: [2], step: 8, priors: 4 },
  { source: 'fc7', inChannels: 1024, minSize: 60, maxSize: 111, aspectRatios: [2, 3], step: 16, priors: 6 },
  { source: 'conv6_2', inChannels: 512, minSize: 111, maxSize: 162, aspectRatios: [2, 3], step: 32, priors: 6 },
  { source: 'conv7_2', inChannels: 256, minSize: 162, maxSize: 213, aspectRatios: [2, 3], step: 64, priors: 6 },
  { source: 'conv8_2', inChannels: 256, minSize: 213, maxSize: 264, aspectRatios: [2], step: 100, priors: 4 },
  { source: 'conv9_2', inChannels: 256, minSize: 264, maxSize: 315, aspectRatios: [2], step: 300, priors: 4 },
];

const NUM_CLASSES = 21;
const LEARNED = 'param {\n  lr_mult: 1\n  decay_mult: 1\n}\nparam {\n  lr_mult: 2\n  decay_mult: 0\n}';

/** Input gain of conv1_1: the mean-subtracted pixels (about +-60 RMS) brought near 1. */
const INPUT_GAIN = 1 / 60;
/** Gains of the loc and conf heads over He-uniform, and the background logit's bias. */
const LOC_GAIN = 0.35;
const CONF_GAIN = 0.5;
const BACKGROUND_BIAS = 8;

function convParams(c: { out: number; kernel: number; pad: number; stride: number; dilation?: number }): string {
  return [
    'convolution_param {',
    `  num_output: ${c.out}`,
    ...(c.pad > 0 ? [`  pad: ${c.pad}`] : []),
    `  kernel_size: ${c.kernel}`,
    ...(c.stride > 1 ? [`  stride: ${c.stride}`] : []),
    '  weight_filler {',
    '    type: "xavier"',
    '  }',
    '  bias_filler {',
    '    type: "constant"',
    '    value: 0',
    '  }',
    ...(c.dilation ? [`  dilation: ${c.dilation}`] : []),
    '}',
  ].join('\n');
}

function heUniform(rng: Prng, count: number, fanIn: number, gain: number): Float32Array {
  const bound = gain * Math.sqrt(6 / fanIn);
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) out[i] = rng.uniform(-bound, bound);
  return out;
}

function priorBoxParams(h: HeadSpec): string {
  return [
    'prior_box_param {',
    `  min_size: ${h.minSize.toFixed(1)}`,
    `  max_size: ${h.maxSize.toFixed(1)}`,
    ...h.aspectRatios.map((r) => `  aspect_ratio: ${r}`),
    '  flip: true',
    '  clip: false',
    '  variance: 0.1',
    '  variance: 0.1',
    '  variance: 0.2',
    '  variance: 0.2',
    `  step: ${h.step}`,
    '  offset: 0.5',
    '}',
  ].join('\n');
}

/** VGG16-SSD 300 deploy prototxt and seeded caffemodel layers (about 26 M weights, 105 MB). */
export function vgg16SsdCaffe(seed = 300): CaffeFixture {
  const rng = new Prng(seed);
  const text: string[] = [inputHeader('data', [1, 3, 300, 300], 'VGG_VOC0712_SSD_300x300_deploy')];
  const layers: CaffeLayerData[] = [];
  const addConv = (name: string, bottom: string, inC: number, c: { out: number; kernel: number; pad: number; stride: number; dilation?: number }, weightGain: number, bias: Float32Array) => {
    text.push(layerText({ name, type: 'Convolution', bottom: [bottom], top: [name], extra: LEARNED, params: convParams(c) }));
    const fanIn = inC * c.kernel * c.kernel;
    layers.push({
      name,
      type: 'Convolution',
      bottom: [bottom],
      top: [name],
      blobs: [
        { shape: [c.out, inC, c.kernel, c.kernel], data: heUniform(rng, c.out * fanIn, fanIn, weightGain) },
        { shape: [c.out], data: bias },
      ],
    });
  };

  let bottom = 'data';
  let channels = 3;
  for (const l of BODY) {
    if ('pool' in l) {
      text.push(layerText({ name: l.pool, type: 'Pooling', bottom: [bottom], top: [l.pool], params: `pooling_param {\n  pool: MAX\n  kernel_size: ${l.kernel}\n${l.pad > 0 ? `  pad: ${l.pad}\n` : ''}  stride: ${l.stride}\n}` }));
      bottom = l.pool;
      continue;
    }
    const bias = Float32Array.from({ length: l.out }, () => rng.uniform(-0.05, 0.05));
    addConv(l.name, bottom, channels, l, l.name === 'conv1_1' ? INPUT_GAIN : 1, bias);
    text.push(layerText({ name: reluName(l.name), type: 'ReLU', bottom: [l.name], top: [l.name] }));
    bottom = l.name;
    channels = l.out;
  }
  // Written where ssd_pascal.py puts it: after the extra layers, before the heads.
  text.push(
    layerText({
      name: 'conv4_3_norm',
      type: 'Normalize',
      bottom: ['conv4_3'],
      top: ['conv4_3_norm'],
      params: 'norm_param {\n  across_spatial: false\n  scale_filler {\n    type: "constant"\n    value: 20\n  }\n  channel_shared: false\n}',
    }),
  );
  layers.push({ name: 'conv4_3_norm', type: 'Normalize', bottom: ['conv4_3'], top: ['conv4_3_norm'], blobs: [{ shape: [512], data: Float32Array.from({ length: 512 }, () => rng.uniform(15, 25)) }] });

  for (const h of HEADS) {
    for (const kind of ['loc', 'conf'] as const) {
      const name = `${h.source}_mbox_${kind}`;
      const out = h.priors * (kind === 'loc' ? 4 : NUM_CLASSES);
      const bias = new Float32Array(out);
      if (kind === 'conf') for (let k = 0; k < h.priors; k++) bias[k * NUM_CLASSES] = BACKGROUND_BIAS;
      addConv(name, h.source, h.inChannels, { out, kernel: 3, pad: 1, stride: 1 }, kind === 'loc' ? LOC_GAIN : CONF_GAIN, bias);
      text.push(layerText({ name: `${name}_perm`, type: 'Permute', bottom: [name], top: [`${name}_perm`], params: 'permute_param {\n  order: 0\n  order: 2\n  order: 3\n  order: 1\n}' }));
      text.push(layerText({ name: `${name}_flat`, type: 'Flatten', bottom: [`${name}_perm`], top: [`${name}_flat`], params: 'flatten_param {\n  axis: 1\n}' }));
    }
    text.push(layerText({ name: `${h.source}_mbox_priorbox`, type: 'PriorBox', bottom: [h.source, 'data'], top: [`${h.source}_mbox_priorbox`], params: priorBoxParams(h) }));
  }
  // The deploy DetectionOutput: NMS 0.45, top_k 400, keep_top_k 200, confidence 0.01.
  text.push(...ssdOutputLayers(HEADS.map((h) => h.source), NUM_CLASSES, { iouThreshold: 0.45, topK: 400, keepTopK: 200, scoreThreshold: 0.01, codeType: 'CENTER_SIZE', backgroundLabelId: 0 }));
  return { prototxt: `${text.join('\n')}\n`, layers };
}
