// Caffe import: prototxt + caffemodel -> BN-folded ONNX model with the SSD spec in its metadata.
export { CaffeImportError } from './errors';
export { CAFFE_PROTO_SOURCE, type CaffeSchemaVariant, V1_LAYER_TYPES, caffeRoot, netParameterTypeOf } from './schema';
export { MAX_PROTOTXT_DEPTH, PrototxtSyntaxError, SOURCE_LINE, lineOf, parsePrototxt, parseTextFormat } from './prototxt';
export type * from './types';
export { type CaffeBlob, type CaffeWeightLayer, type CaffeWeights, readCaffemodel } from './caffemodel';
export { type CaffeBlobData, type CaffeLayerData, type WriteCaffemodelOptions, writeCaffemodel } from './writer';
export {
  type CaffeImportResult,
  type CaffeImportSummary,
  type CaffePreprocess,
  type ImportCaffeOptions,
  CAFFE_SSD_PREPROCESS,
  MAX_SSD_CLASSES,
  SUPPORTED_CAFFE_LAYERS,
  defaultLabels,
  importCaffe,
} from './import';
export {
  type CaffeGraphSummary,
  type ConvertCaffeOptions,
  type ConvertCaffeResult,
  CaffeVerificationError,
  MAX_CAFFEMODEL_BYTES,
  MAX_LABELS_BYTES,
  MAX_PROTOTXT_BYTES,
  convertCaffe,
  convertCaffeModel,
  formatCaffeSummary,
  readLabelsFile,
} from './convert';
export { CAFFE_CONVERT_USAGE, isCaffeConvert, parseCaffeConvertArgs, runCaffeConvert } from './cli';
