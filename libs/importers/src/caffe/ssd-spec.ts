// The SSD spec (metadata `ssd.spec`) of a Caffe SSD: the PriorBox heads as shape inference sized
// them, the DetectionOutput's decoding and NMS parameters with Caffe's defaults, the net input,
// and the labels and preprocessing the caller gives (the prototxt holds neither).
import { type CodeType, MOBILENET_SSD_VOC_300, type SsdSpec, SsdSpecError, VOC_LABELS, parseSsdSpec, priorBoxHeadCount } from '@edge-ssd/ssd-core';
import { fmt } from './dims';
import type { DetectionsValue } from './handler';
import type { Layer, NetInput } from './net';

/**
 * Preprocessing written into the SSD spec: x' = (x - mean) * scale in `channelOrder`. A deploy
 * prototxt does not carry it (it lives in the training data layer's transform_param), so it is
 * the caller's: chuanqi305 MobileNet-SSD is BGR, mean 127.5, scale 0.007843; weiliu89's VGG16-SSD
 * is BGR, mean 104/117/123, scale 1.
 */
export interface CaffePreprocess {
  mean: [number, number, number];
  scale: number;
  channelOrder: 'BGR' | 'RGB';
}

/** The preprocessing written into the spec, and which of its fields were assumed (not given). */
export interface ResolvedPreprocess extends CaffePreprocess {
  assumed: (keyof CaffePreprocess)[];
}

/** Fills the fields the caller left out with chuanqi305 MobileNet-SSD's, naming them. */
function resolvePreprocess(given: Partial<CaffePreprocess> = {}): ResolvedPreprocess {
  const keys = ['mean', 'scale', 'channelOrder'] as const;
  return {
    mean: [...(given.mean ?? CAFFE_SSD_PREPROCESS.mean)] as [number, number, number],
    scale: given.scale ?? CAFFE_SSD_PREPROCESS.scale,
    channelOrder: given.channelOrder ?? CAFFE_SSD_PREPROCESS.channelOrder,
    assumed: keys.filter((k) => given[k] === undefined),
  };
}

const CAFFE_SSD_PREPROCESS: CaffePreprocess = Object.freeze({
  mean: [...MOBILENET_SSD_VOC_300.input.mean] as [number, number, number],
  scale: MOBILENET_SSD_VOC_300.input.scale,
  channelOrder: MOBILENET_SSD_VOC_300.input.channelOrder,
});

/**
 * Most classes a DetectionOutput may declare: far above real label sets (COCO 91, Open Images
 * 600, ImageNet-21k 21 841), far below what one label per class would make a problem.
 */
export const MAX_SSD_CLASSES = 100_000;

const FLT_MAX = 3.4028234663852886e38;
const CODE_TYPES: Record<string, CodeType> = { CORNER: 'CORNER', CENTER_SIZE: 'CENTER_SIZE', CORNER_SIZE: 'CORNER_SIZE' };

/** VOC for 21 classes; otherwise class_N with the background class named 'background'. */
function defaultLabels(numClasses: number, backgroundLabelId = 0): string[] {
  if (numClasses === VOC_LABELS.length && backgroundLabelId === 0) return [...VOC_LABELS];
  return Array.from({ length: numClasses }, (_, i) => (i === backgroundLabelId ? 'background' : `class_${i}`));
}

export interface SsdSpecOptions {
  labels?: readonly string[];
  /** spec.name; default: the net's name, else 'caffe-ssd'. */
  modelName?: string;
  netName?: string;
  preprocess?: Partial<CaffePreprocess>;
}

export interface CaffeSsd {
  spec: SsdSpec;
  preprocess: ResolvedPreprocess;
  numPriors: number;
  numClasses: number;
}

/** The spec for the net's DetectionOutput; refusals name the DetectionOutput or the PriorBox at fault. */
export function caffeSsdSpec(ssd: DetectionsValue, inputs: readonly NetInput[], options: SsdSpecOptions, fail: (layer: Layer, message: string) => never): CaffeSsd {
  const { layer, priors } = ssd;
  const p = layer.params.detection_output_param ?? {};
  const numClasses = p.num_classes ?? 0;
  if (!(numClasses >= 1)) fail(layer, 'num_classes must be set (>= 1)');
  // Checked before a label is made for every class: 2^31 of them would exhaust memory.
  if (numClasses > MAX_SSD_CLASSES) fail(layer, `num_classes ${numClasses} is more than the ${MAX_SSD_CLASSES} this importer accepts`);
  if (p.share_location === false) fail(layer, 'share_location: false (per-class boxes) is not supported');
  const codeType = CODE_TYPES[p.code_type ?? 'CORNER'];
  const labels = options.labels ? [...options.labels] : defaultLabels(numClasses, p.background_label_id ?? 0);
  if (labels.length !== numClasses) fail(layer, `${labels.length} labels were given for num_classes ${numClasses}`);
  // The net input the priors are laid out for: the image bottom of the PriorBox layers.
  if (inputs.length !== 1) fail(layer, `an SSD net needs exactly one input, this one has ${inputs.length}`);
  const input = inputs[0];
  if (input.shape.length !== 4) fail(layer, `the input '${input.name}' must be 4-D (N, C, H, W), got ${fmt(input.shape)}`);
  // Without img_size/img_h/img_w a PriorBox takes the image size from its bottom[1]; the spec
  // uses the input size then, so a head whose image bottom has another size records it.
  const heads = priors.heads.map(({ head, image }) => {
    const out = { ...head };
    const explicit = head.imgSize !== undefined || head.imgH !== undefined || head.imgW !== undefined;
    if (!explicit && (image[0] !== input.shape[2] || image[1] !== input.shape[3])) {
      out.imgH = image[0];
      out.imgW = image[1];
    }
    return out;
  });
  const pre = resolvePreprocess(options.preprocess);
  const nms = p.nms_param ?? {};
  const raw: SsdSpec = {
    format: 'edge-ssd/v1',
    name: options.modelName ?? (options.netName || 'caffe-ssd'),
    input: { name: input.name, width: input.shape[3], height: input.shape[2], channelOrder: pre.channelOrder, mean: [...pre.mean], scale: pre.scale, resize: 'warp' },
    outputs: { loc: 'mbox_loc', conf: 'mbox_conf' },
    labels,
    backgroundLabelId: p.background_label_id ?? 0,
    priors: { kind: 'priorbox', heads },
    codeType,
    varianceEncodedInTarget: p.variance_encoded_in_target ?? false,
    clipBoxes: false,
    nms: {
      // An unset confidence_threshold is -FLT_MAX in Caffe (every score passes).
      scoreThreshold: p.confidence_threshold ?? -FLT_MAX,
      iouThreshold: nms.nms_threshold ?? 0.3,
      topK: nms.top_k ?? -1,
      keepTopK: p.keep_top_k ?? -1,
      eta: nms.eta ?? 1,
    },
  };
  let spec: SsdSpec;
  try {
    spec = parseSsdSpec(raw);
  } catch (err) {
    if (!(err instanceof SsdSpecError)) throw err;
    const m = /^priors\.heads\[(\d+)\]/.exec(err.path);
    if (m) fail(priors.heads[Number(m[1])].layer, `invalid prior_box_param: ${err.message.replace(/^priors\.heads\[\d+\]\.?/, '')}`);
    fail(layer, `invalid detection_output_param: ${err.message}`);
  }
  const numPriors = heads.reduce((s, h) => s + h.featureMap[0] * h.featureMap[1] * priorBoxHeadCount(h), 0);
  return { spec, preprocess: pre, numPriors, numClasses };
}
