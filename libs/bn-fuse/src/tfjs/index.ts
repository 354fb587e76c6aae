// tfjs weights import: the face-api SSD-MobileNetV1 face detector as a BN-folded ONNX model.
export {
  type TfjsQuantization,
  type TfjsQuantizationDtype,
  type TfjsTensor,
  type TfjsWeightFile,
  type TfjsWeightMap,
  type TfjsWeightSpec,
  type TfjsWeights,
  type TfjsWeightsGroup,
  type TfjsWeightsManifest,
  MAX_TFJS_MANIFEST_BYTES,
  MAX_TFJS_SHARDS,
  MAX_TFJS_WEIGHTS_BYTES,
  TfjsImportError,
  decodeTfjsWeight,
  decodeTfjsWeights,
  parseTfjsManifest,
  readTfjsWeights,
  tfjsWeightByteLength,
} from './weights';
export * from './faceapi-ssd';
export * from './import';
export { TFJS_CONVERT_USAGE, isTfjsConvert, runTfjsConvert } from './cli';
