// @edge-ssd/ssd-pipeline: SSD inference driven by the model's spec, split as transformers.js
// splits it: the image processor (decode, limits, OpenCV-exact preprocessing), the model (an
// onnxruntime session with post-processing) and a pipeline joining them in one thread.
export * from './image';
export {
  type DecodeLimits,
  type ImagePath,
  type ImageProbe,
  ImageError,
  decodeImage,
  decodeProbed,
  fastDecodeSize,
  probeImage,
  sniffFormat,
} from './decode';
export { inputToImageScale, preprocessInto } from './preprocess';
export {
  type SessionItem,
  SsdSession,
} from './session';
export {
  SsdPipeline,
} from './pipeline';
export { type LoadedModel, PRECISION_METADATA_KEY, loadModel } from './model';
