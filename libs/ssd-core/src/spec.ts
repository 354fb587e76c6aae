// The SSD spec: everything a serving process needs to know about an SSD model besides its
// weights. It is plain JSON so a model file can carry it (ONNX metadata_props key `ssd.spec`)
// and a detector can configure itself from the model alone.

type ChannelOrder = 'BGR' | 'RGB';
/**
 * `warp` stretches the whole image to the input size (the Caffe/OpenCV demo); `letterbox` keeps
 * the aspect ratio: the image is zero-padded at the bottom or right to a square, then resized
 * (face-api's padToSquare), and boxes are mapped back from the square to the image.
 */
type ResizeMode = 'warp' | 'letterbox';
export type CodeType = 'CENTER_SIZE' | 'CORNER' | 'CORNER_SIZE';

export interface InputSpec {
  /** Graph input name. */
  name: string;
  width: number;
  height: number;
  channelOrder: ChannelOrder;
  /** Per-channel mean, in the model's channel order, subtracted before scaling. */
  mean: [number, number, number];
  /** Multiplier applied after mean subtraction: x' = (x - mean) * scale. */
  scale: number;
  resize: ResizeMode;
}

/** One Caffe PriorBox layer, field for field (defaults as in caffe.proto). */
export interface PriorBoxHead {
  /** Feature-map size [height, width] of the layer the head reads. */
  featureMap: [number, number];
  minSizes: number[];
  maxSizes?: number[];
  aspectRatios?: number[];
  /** Default true. */
  flip?: boolean;
  /** Default false. */
  clip?: boolean;
  /** 1 or 4 values; default [0.1]. */
  variance?: number[];
  /** Default 0.5. */
  offset?: number;
  step?: number;
  stepH?: number;
  stepW?: number;
  imgSize?: number;
  imgH?: number;
  imgW?: number;
}

interface PriorBoxPriors {
  kind: 'priorbox';
  /** Heads in the order their outputs are concatenated. */
  heads: PriorBoxHead[];
}

/** Anchors generated elsewhere: normalised (xmin, ymin, xmax, ymax) per prior. */
interface TablePriors {
  kind: 'table';
  /** Flat, 4 per prior. */
  boxes: number[];
  /** Flat, 4 per prior, or exactly 4 values shared by every prior. */
  variances: number[];
}

export type PriorsSpec = PriorBoxPriors | TablePriors;

export interface NmsSpec {
  /** Keep scores strictly above this. */
  scoreThreshold: number;
  /** Suppress when IoU is strictly above this. */
  iouThreshold: number;
  /** Per-class candidate cap before NMS; -1 keeps all. */
  topK: number;
  /** Cap across classes after NMS; -1 keeps all. */
  keepTopK: number;
  /** Adaptive NMS factor (Caffe `eta`), 1 = off. */
  eta: number;
}

export interface SsdSpec {
  format: 'edge-ssd/v1';
  name: string;
  input: InputSpec;
  /** Output tensor names: loc [N, P, 4] and class probabilities [N, P, C]. */
  outputs: { loc: string; conf: string };
  /** Index = class id; the class count is labels.length. */
  labels: string[];
  backgroundLabelId: number;
  priors: PriorsSpec;
  codeType: CodeType;
  varianceEncodedInTarget: boolean;
  /** Clip decoded boxes to [0, 1]. Caffe's DetectionOutput never does. */
  clipBoxes: boolean;
  nms: NmsSpec;
}

/** Metadata key under which a model carries its spec. */
export const SSD_SPEC_METADATA_KEY = 'ssd.spec';

export const VOC_LABELS: readonly string[] = Object.freeze([
  'background', 'aeroplane', 'bicycle', 'bird', 'boat', 'bottle', 'bus', 'car', 'cat', 'chair', 'cow',
  'diningtable', 'dog', 'horse', 'motorbike', 'person', 'pottedplant', 'sheep', 'sofa', 'train', 'tvmonitor',
]);

const MOBILENET_HEAD_DEFAULTS = { flip: true, clip: false, variance: [0.1, 0.1, 0.2, 0.2], offset: 0.5 };

/** chuanqi305 MobileNet-SSD, PASCAL VOC, 300x300: deploy.prototxt's PriorBox and DetectionOutput. */
export const MOBILENET_SSD_VOC_300: SsdSpec = deepFreeze({
  format: 'edge-ssd/v1',
  name: 'mobilenet-ssd-voc-300',
  input: { name: 'data', width: 300, height: 300, channelOrder: 'BGR', mean: [127.5, 127.5, 127.5], scale: 0.007843, resize: 'warp' },
  outputs: { loc: 'mbox_loc', conf: 'mbox_conf' },
  labels: [...VOC_LABELS],
  backgroundLabelId: 0,
  priors: {
    kind: 'priorbox',
    heads: [
      { featureMap: [19, 19], minSizes: [60], aspectRatios: [2], ...MOBILENET_HEAD_DEFAULTS },
      { featureMap: [10, 10], minSizes: [105], maxSizes: [150], aspectRatios: [2, 3], ...MOBILENET_HEAD_DEFAULTS },
      { featureMap: [5, 5], minSizes: [150], maxSizes: [195], aspectRatios: [2, 3], ...MOBILENET_HEAD_DEFAULTS },
      { featureMap: [3, 3], minSizes: [195], maxSizes: [240], aspectRatios: [2, 3], ...MOBILENET_HEAD_DEFAULTS },
      { featureMap: [2, 2], minSizes: [240], maxSizes: [285], aspectRatios: [2, 3], ...MOBILENET_HEAD_DEFAULTS },
      { featureMap: [1, 1], minSizes: [285], maxSizes: [300], aspectRatios: [2, 3], ...MOBILENET_HEAD_DEFAULTS },
    ],
  },
  codeType: 'CENTER_SIZE',
  varianceEncodedInTarget: false,
  clipBoxes: false,
  nms: { scoreThreshold: 0.25, iouThreshold: 0.45, topK: 100, keepTopK: 100, eta: 1 },
});

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object') {
    for (const child of Object.values(value as object)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}
