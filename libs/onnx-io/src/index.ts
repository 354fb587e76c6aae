// @edge-ssd/onnx-io: the ONNX model as data. Codec (bytes <-> plain ModelProto objects), tensors
// and their dtypes, a lazy file reader and external data, a graph builder, structural validation,
// `inspect` (inputs, outputs and metadata without touching weights), and crash-safe writing.
export * from './onnx-types';
export {
  MAX_MESSAGE_DEPTH,
  OnnxDecodeError,
  concatChunks,
  decodeModel,
  encodeModel,
  encodeModelChunks,
  findUnknownFields,
} from './codec';
export {
  type ExternalDataLoader,
  type FloatReader,
  type LazyTensorData,
  FLOAT_DATA_TYPES,
  TensorDataError,
  dataTypeName,
  decodeBfloat16,
  decodeFloat16,
  encodeBfloat16,
  encodeFloat16,
  floatReader,
  floatWidth,
  isExternalTensor,
  lazyData,
  makeFloatTensor,
  makeInt64Tensor,
  makeLazyTensor,
  makeRawTensor,
  overflowsIn,
  readTensorFloat64,
  tensorBytesInto,
  tensorDims,
  tensorElementCount,
  withFloatValues,
} from './tensor';
export { type AttributeValue, type Dim, type ModelOptions, DEFAULT_IR_VERSION, DEFAULT_OPSET, GraphBuilder, attribute, valueInfo } from './graph-builder';
export { ModelValidationError, validateModel } from './validate';
export {
  type ModelFile,
  attachLazyData,
  readModelFile,
} from './model-file';
export {
  ExternalDataReader,
  externalLocation,
  forEachTensor,
  usesExternalData,
} from './external-data';
export {
  type ModelUses,
  NameRegistry,
  countModelUses,
  describeNode,
  isBatchNorm,
  isOnnxDomain,
  onnxOpsetVersion,
  runtimeInputs,
  subgraphsOf,
} from './graph-index';
export {
  inspectDecodedModel,
  inspectModel,
} from './inspect';
export {
  type CommitStep,
  type StagedOutput,
  stageOutput,
} from './commit';
export {
  FileRefusal,
  openInside,
  readAndClose,
  readRegularFile,
} from './safe-open';
export { isSameFile, writeFileAtomic } from './fs-util';
