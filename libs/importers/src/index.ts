// @edge-ssd/importers: front ends that turn a model in someone else's format into an ONNX graph
// with its SSD spec (BatchNormalization nodes still in place): Caffe (prototxt + caffemodel),
// face-api's tfjs weights, and the seeded MobileNet-SSD writer. @edge-ssd/convert folds,
// verifies and writes what they return.
export { type ImportedModel, type Provenance, InputError, PRODUCER_NAME, PRODUCER_VERSION } from './imported';
export { CaffeImportError } from './caffe/errors';
export { PrototxtSyntaxError, parsePrototxt } from './caffe/prototxt';
export { type CaffeWeights, readCaffemodel } from './caffe/caffemodel';
export { type CaffeImportResult, type CaffeImportSummary, type ImportCaffeOptions, importCaffe } from './caffe/import';
export { SUPPORTED_CAFFE_LAYERS } from './caffe/registry';
export { type CaffePreprocess, CAFFE_SSD_PREPROCESS, MAX_SSD_CLASSES } from './caffe/ssd-spec';
export { type CaffeFiles, type ImportCaffeFilesOptions, MAX_CAFFEMODEL_BYTES, MAX_LABELS_BYTES, MAX_PROTOTXT_BYTES, importCaffeFiles, readLabelsFile } from './caffe/front-end';
export { TfjsImportError, type TfjsWeights, type TfjsWeightsManifest, decodeTfjsWeights, parseTfjsManifest, readTfjsWeights, tfjsWeightByteLength } from './tfjs/weights';
export {
  type ImportFaceApiOptions,
  FACEAPI_PACKAGE,
  FACEAPI_PACKAGE_VERSION,
  FACEAPI_SSD_MANIFEST_FILE,
  FACEAPI_SSD_SHA256,
  FACE_VERIFY_ATOL,
  FACE_VERIFY_RTOL,
  defaultFaceApiManifestPath,
  importFaceApi,
  importFaceApiWeights,
  isPinnedFaceApi,
} from './tfjs/face-api';
export { FACEAPI_BN_EPSILON, FACEAPI_SSD_NAME } from './tfjs/faceapi-ssd';
export { type WriteMobileNetSsdOptions, DEFAULT_MODEL_SEED, buildMobileNetSsd, importSeededMobileNetSsd, writeMobileNetSsd } from './seeded/mobilenet-ssd';
