// The MobileNet v1 SSD network that chuanqi305's Caffe MobileNet-SSD and face-api's
// SSD-MobileNetV1 (TF object detection API) both are: a full 3x3 stride-2 stem, 13
// depthwise-separable blocks, 4 extra layers (1x1 reduce, 3x3 stride-2 expand) and 6 box
// predictors. This table is the one description of it; each front end maps it to its own names
// (seeded/mobilenet-ssd.ts: conv0 .. conv17_2; tfjs/faceapi-ssd.ts: MobilenetV1/Conv2d_N_*,
// Prediction/Conv2d_N_pointwise) and sizes the feature maps for its input.

/**
 * stem: the first convolution; depthwise / pointwise: the halves of block `block` (1..13);
 * reduce / expand: the halves of extra layer `block` (1..4).
 */
type MobileNetV1Part = 'stem' | 'depthwise' | 'pointwise' | 'reduce' | 'expand';

export interface MobileNetV1Conv {
  part: MobileNetV1Part;
  /** 0 for the stem, else the block or extra layer the convolution belongs to. */
  block: number;
  kernel: number;
  stride: number;
  /** inChannels for a depthwise convolution, 1 otherwise. */
  group: number;
  inChannels: number;
  outChannels: number;
}

export interface MobileNetV1Head {
  /** Index into MOBILENET_V1_SSD_LAYERS of the convolution whose (activated) output the head reads. */
  layer: number;
  inChannels: number;
  /** Anchors (priors) per feature-map cell. */
  anchors: number;
}

/** Output channels of the 13 depthwise-separable blocks; block i maps BLOCK_CHANNELS[i - 1] -> BLOCK_CHANNELS[i]. */
const BLOCK_CHANNELS = [32, 64, 128, 128, 256, 256, 512, 512, 512, 512, 512, 512, 1024, 1024];
/** Blocks whose depthwise convolution has stride 2. */
const STRIDE_2_BLOCKS = new Set([2, 4, 6, 12]);
/** The extra layers: [reduced channels, output channels]. */
const EXTRAS: readonly (readonly [number, number])[] = [
  [256, 512],
  [128, 256],
  [128, 256],
  [64, 128],
];

function conv(part: MobileNetV1Part, block: number, kernel: number, stride: number, inChannels: number, outChannels: number): MobileNetV1Conv {
  return { part, block, kernel, stride, group: part === 'depthwise' ? inChannels : 1, inChannels, outChannels };
}

/** The 35 convolutions, in order: stem, 13 x (depthwise, pointwise), 4 x (reduce, expand). */
export const MOBILENET_V1_SSD_LAYERS: readonly MobileNetV1Conv[] = Object.freeze([
  conv('stem', 0, 3, 2, 3, BLOCK_CHANNELS[0]),
  ...BLOCK_CHANNELS.slice(1).flatMap((out, i) => {
    const block = i + 1;
    const c = BLOCK_CHANNELS[i];
    return [conv('depthwise', block, 3, STRIDE_2_BLOCKS.has(block) ? 2 : 1, c, c), conv('pointwise', block, 1, 1, c, out)];
  }),
  ...EXTRAS.flatMap(([reduced, out], i) => {
    const cin = i === 0 ? BLOCK_CHANNELS[BLOCK_CHANNELS.length - 1] : EXTRAS[i - 1][1];
    return [conv('reduce', i + 1, 1, 1, cin, reduced), conv('expand', i + 1, 3, 2, reduced, out)];
  }),
]);

function layerIndex(part: MobileNetV1Part, block: number): number {
  return MOBILENET_V1_SSD_LAYERS.findIndex((l) => l.part === part && l.block === block);
}

function head(part: MobileNetV1Part, block: number, anchors: number): MobileNetV1Head {
  const layer = layerIndex(part, block);
  return { layer, inChannels: MOBILENET_V1_SSD_LAYERS[layer].outChannels, anchors };
}

/** The six box predictors in concatenation order: blocks 11 and 13, then the four extra layers. */
export const MOBILENET_V1_SSD_HEADS: readonly MobileNetV1Head[] = Object.freeze([
  head('pointwise', 11, 3),
  head('pointwise', 13, 6),
  head('expand', 1, 6),
  head('expand', 2, 6),
  head('expand', 3, 6),
  head('expand', 4, 6),
]);

/**
 * Side of every layer's square output for a square input. Both front ends give a 3x3 stride-2
 * convolution the output ceil(in / 2): Caffe with pad 1 (floor((in - 1) / 2) + 1) and TF with
 * 'SAME' padding alike.
 */
function mobileNetV1SsdSizes(inputSize: number): number[] {
  let size = inputSize;
  return MOBILENET_V1_SSD_LAYERS.map((l) => (size = Math.ceil(size / l.stride)));
}

/** Side of each head's feature map, in head order (300: 19, 10, 5, 3, 2, 1; 512: 32, 16, 8, 4, 2, 1). */
export function mobileNetV1SsdFeatureMaps(inputSize: number): number[] {
  const sizes = mobileNetV1SsdSizes(inputSize);
  return MOBILENET_V1_SSD_HEADS.map((h) => sizes[h.layer]);
}

/** Number of priors over all heads (300: 1917; 512: 5118). */
export function mobileNetV1SsdPriorCount(inputSize: number): number {
  const maps = mobileNetV1SsdFeatureMaps(inputSize);
  return MOBILENET_V1_SSD_HEADS.reduce((n, h, i) => n + maps[i] * maps[i] * h.anchors, 0);
}
