// @edge-ssd/bn-fuse: ONNX codec, the default MobileNet-SSD writer, BatchNormalization folding,
// onnxruntime verification and the conversion pipeline behind the `bn-fuse` CLI.
export * from './onnx-types';
export { ONNX_PROTO_SOURCE } from './onnx-schema';
export { type DecodeOptions, type ModelChunk, MAX_MESSAGE_DEPTH, OnnxDecodeError, concatChunks, forEachChunkPiece, decodeModel, encodeModel, encodeModelChunks, findUnknownFields } from './codec';
export {
  FLOAT_DATA_TYPES,
  TensorDataError,
  dataTypeName,
  decodeBfloat16,
  decodeFloat16,
  encodeBfloat16,
  encodeFloat16,
  encodeFloatRaw,
  type ExternalDataLoader,
  type FloatReader,
  FloatWriter,
  floatReader,
  isExternalTensor,
  makeFloatTensor,
  makeInt64Tensor,
  type LazyTensorData,
  lazyData,
  readLazy,
  tensorBytesInto,
  makeLazyTensor,
  makeRawTensor,
  overflowsIn,
  rawBytes,
  setLazyData,
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
export {
  type BiasLayout,
  type FoldProducer,
  type LayoutRefusal,
  type ProducerLayout,
  type ProducerScope,
  CONV_PRODUCER,
  CONV_TRANSPOSE_PRODUCER,
  FOLD_PRODUCERS,
  GEMM_PRODUCER,
  MATMUL_PRODUCER,
} from './fold-producers';
export { ModelValidationError, validateModel } from './validate';
export { type LazyRange, type ModelFile, LAZY_RAW_THRESHOLD, attachLazyData, readModelFile } from './model-file';
export { EXTERNAL_SIZE_THRESHOLD, ExternalDataReader, externalLocation, externaliseTensors, forEachTensor, mapModelTensors, usesExternalData } from './external-data';
export { type GraphIndex, type ModelUses, NameRegistry, allGraphs, countModelUses, indexGraph, runtimeInputs } from './graph-index';
export * from './verify';
export * from './inspect';
export * from './convert';
export { writeFileAtomic, isSameFile } from './fs-util';
export * from './prepare';
export * from './tfjs';
export * from './caffe';
