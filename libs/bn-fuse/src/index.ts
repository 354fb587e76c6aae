// @edge-ssd/bn-fuse: BatchNormalization folding as a pass over an onnx-io model, the fold's
// arithmetic as a pure function on typed arrays, and the verification of a fold (onnxruntime runs
// the model before and after the pass on the same random inputs).
export {
  type FoldOptions,
  type FoldReport,
  type FoldResult,
  foldBatchNorm,
} from './fold';
export { type LeaveCode } from './eligibility';
export {
  type VerifyResult,
  DEFAULT_ATOL,
  DEFAULT_RTOL,
  MAX_VERIFY_INPUT_ELEMENTS,
  verifyFold,
} from './verify';
