// @edge-ssd/bn-fuse: BatchNormalization folding as a pass over an onnx-io model, and its
// verification (onnxruntime runs the model before and after the pass on the same random inputs).
export { type FoldOptions, type FoldReport, type FoldResult, type FoldedBatchNorm, type LeaveCode, type LeftBatchNorm, foldBatchNorm } from './fold';
export { type OutputComparison, type VerifyOptions, type VerifyResult, DEFAULT_ATOL, DEFAULT_RTOL, MAX_VERIFY_INPUT_ELEMENTS, verifyFold } from './verify';
