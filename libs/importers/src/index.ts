// @edge-ssd/importers: front ends that turn a model in someone else's format into an ONNX graph
// with its SSD spec (BatchNormalization nodes still in place): Caffe (prototxt + caffemodel),
// face-api's tfjs weights, and the seeded MobileNet-SSD writer. @edge-ssd/convert folds,
// verifies and writes what they return.
export {
  type ImportedModel,
  type Provenance,
  InputError,
} from './imported';
export { CaffeImportError } from './caffe/errors';
export { PrototxtSyntaxError, parsePrototxt } from './caffe/prototxt';
export {
  readCaffemodel,
} from './caffe/caffemodel';
export {
  type ImportCaffeOptions,
  importCaffe,
} from './caffe/import';
export { SUPPORTED_CAFFE_LAYERS } from './caffe/registry';
export {
  MAX_SSD_CLASSES,
} from './caffe/ssd-spec';
export {
  importCaffeFiles,
} from './caffe/front-end';
export { TfjsImportError, type TfjsWeights, type TfjsWeightsManifest, decodeTfjsWeights, parseTfjsManifest, readTfjsWeights, tfjsWeightByteLength } from './tfjs/weights';
export {
  FACEAPI_SSD_SHA256,
  FACE_VERIFY_ATOL,
  FACE_VERIFY_RTOL,
  defaultFaceApiManifestPath,
  importFaceApi,
} from './tfjs/face-api';
export {
  FACEAPI_BN_EPSILON,
} from './tfjs/faceapi-ssd';
export {
  DEFAULT_MODEL_SEED,
  importSeededMobileNetSsd,
  writeMobileNetSsd,
} from './seeded/mobilenet-ssd';
