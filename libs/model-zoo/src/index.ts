// @edge-ssd/model-zoo: the built-in models and `prepare`, which makes one into a directory and
// checks its pinned sha256. Run as a separate step before serving (`npm start`, a Kubernetes init
// container), so the detector never imports a converter.
export { type BuiltinModel, BUILTIN_MODELS, findBuiltinModel } from './zoo';
export {
  ModelMismatchError,
  prepareBuiltinModel,
} from './prepare';
