// Caffe layer type -> handler. The order is the order SUPPORTED_CAFFE_LAYERS (and the message for
// an unsupported type) lists them in.
import type { LayerHandler } from './handler';
import { relu, sigmoidTanh, softmax } from './layers/activation';
import { convolution } from './layers/convolution';
import { eltwise } from './layers/eltwise';
import { dropout, split } from './layers/identity';
import { innerProduct } from './layers/inner-product';
import { input } from './layers/input';
import { normalize } from './layers/normalize';
import { batchNorm, lrn, scale } from './layers/normalization';
import { pooling } from './layers/pooling';
import { concat, flatten, permute, reshape } from './layers/shape';
import { detectionOutput, priorBox } from './layers/ssd';

const HANDLERS: readonly LayerHandler[] = [
  input,
  convolution,
  batchNorm,
  scale,
  relu,
  sigmoidTanh,
  pooling,
  lrn,
  normalize,
  innerProduct,
  eltwise,
  concat,
  permute,
  flatten,
  reshape,
  softmax,
  dropout,
  split,
  priorBox,
  detectionOutput,
];

const BY_TYPE: ReadonlyMap<string, LayerHandler> = new Map(HANDLERS.flatMap((h) => h.types.map((t) => [t, h] as const)));
if (BY_TYPE.size !== HANDLERS.reduce((n, h) => n + h.types.length, 0)) throw new Error('two Caffe layer handlers claim the same type');

/** Layer types the importer maps (Input and the SSD layers included). */
export const SUPPORTED_CAFFE_LAYERS: readonly string[] = Object.freeze([...BY_TYPE.keys()]);

export function handlerFor(type: string): LayerHandler | undefined {
  return BY_TYPE.get(type);
}
