// @edge-ssd/onnx-io: the ONNX model as data. Codec (bytes <-> plain ModelProto objects), tensors
// and their dtypes, a lazy file reader and external data, a graph builder, structural validation,
// `inspect` (inputs, outputs and metadata without touching weights), and crash-safe writing.
export * from './onnx-types';
export { type DecodeOptions, type ModelChunk, MAX_MESSAGE_DEPTH, OnnxDecodeError, concatChunks, decodeModel, encodeModel, encodeModelChunks, findUnknownFields } from './codec';
export {
  type ExternalDataLoader,
  type FloatReader,
  type LazyTensorData,
  FLOAT_DATA_TYPES,
  FloatWriter,
  TensorDataError,
  dataTypeName,
  decodeBfloat16,
  decodeFloat16,
  encodeBfloat16,
  encodeFloat16,
  encodeFloatRaw,
  floatReader,
  floatWidth,
  isExternalTensor,
  lazyData,
  makeFloatTensor,
  makeInt64Tensor,
  makeLazyTensor,
  makeRawTensor,
  overflowsIn,
  rawBytes,
  readLazy,
  readTensorFloat64,
  setLazyData,
  tensorBytesInto,
  tensorDims,
  tensorElementCount,
  withFloatValues,
} from './tensor';
export { type AttributeValue, type Dim, type ModelOptions, DEFAULT_IR_VERSION, DEFAULT_OPSET, GraphBuilder, attribute, valueInfo } from './graph-builder';
export { ModelValidationError, validateModel } from './validate';
export { type LazyRange, type ModelFile, LAZY_RAW_THRESHOLD, attachLazyData, readModelFile } from './model-file';
export { EXTERNAL_SIZE_THRESHOLD, ExternalDataReader, externalLocation, forEachTensor, mapModelTensors, usesExternalData } from './external-data';
export {
  type GraphIndex,
  type ModelUses,
  NameRegistry,
  allGraphs,
  countModelUses,
  describeNode,
  indexGraph,
  isBatchNorm,
  isOnnxDomain,
  nodeReads,
  onnxOpsetVersion,
  outerScopeReads,
  runtimeInputs,
  subgraphsOf,
} from './graph-index';
export { type GraphSummary, type InspectedDim, type InspectedValue, type ModelInspection, graphSummary, inspectDecodedModel, inspectModel } from './inspect';
export { type StagedOutput, DATA_HASH_DIGITS, dataFileName, isOwnDataFileName, stageOutput } from './commit';
export { FileRefusal, type OpenedFile, openInside, openRegularFile, readAndClose, readRegularFile } from './safe-open';
export { isSameFile, writeFileAtomic } from './fs-util';
