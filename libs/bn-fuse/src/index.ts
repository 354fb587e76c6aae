// @edge-ssd/bn-fuse: ONNX codec, the default MobileNet-SSD writer, BatchNormalization folding,
// onnxruntime verification and the conversion pipeline behind the `bn-fuse` CLI.
export * from './onnx-types';
export { ONNX_PROTO_SOURCE } from './onnx-schema';
export { type DecodeOptions, OnnxDecodeError, decodeModel, encodeModel, findUnknownFields } from './codec';
export {
  FLOAT_DATA_TYPES,
  TensorDataError,
  dataTypeName,
  decodeBfloat16,
  decodeFloat16,
  encodeBfloat16,
  encodeFloat16,
  encodeFloatRaw,
  isExternalTensor,
  makeFloatTensor,
  makeInt64Tensor,
  readTensorFloat64,
  tensorDims,
  tensorElementCount,
  withFloatValues,
} from './tensor';
export { type AttributeValue, type Dim, type ModelOptions, DEFAULT_IR_VERSION, DEFAULT_OPSET, GraphBuilder, attribute, valueInfo } from './graph-builder';
export { Prng } from './prng';
export {
  type ConvLayerSpec,
  type HeadSpec,
  type WriteMobileNetSsdOptions,
  CAFFE_BN_EPSILON,
  DEFAULT_MODEL_SEED,
  MOBILENET_SSD_HEADS,
  MOBILENET_SSD_INPUT,
  MOBILENET_SSD_LAYERS,
  MOBILENET_SSD_NUM_CLASSES,
  MOBILENET_SSD_OUTPUTS,
  MOBILENET_SSD_PRIOR_COUNT,
  PRODUCER_NAME,
  PRODUCER_VERSION,
  buildMobileNetSsd,
  serializeSpec,
  writeMobileNetSsd,
} from './mobilenet-ssd';
export * from './fold';
export { type ChannelCheck, type FoldProducer, CONV_PRODUCER, FOLD_PRODUCERS } from './fold-producers';
export { type GraphIndex, NameRegistry, indexGraph, runtimeInputs } from './graph-index';
export * from './verify';
export * from './inspect';
export * from './convert';
export { writeFileAtomic, isSameFile } from './fs-util';
export * from './prepare';
