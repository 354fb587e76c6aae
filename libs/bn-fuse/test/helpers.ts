// Test helpers of the fold: fold + verify in one step, onnxruntime runs, and tests that need
// Debian's python3-onnx.
import * as ort from 'onnxruntime-node';
import { type ModelProto, encodeModel } from '@edge-ssd/onnx-io';
import { pythonOnnxAvailable } from '@edge-ssd/onnx-io/testing';
import { type FoldOptions, type FoldResult, type VerifyResult, foldBatchNorm, verifyFold } from '../src';

/**
 * Folds `model`, checks that the BN(s) are gone as expected, and that onnxruntime (optimizations
 * disabled) gives the same outputs for the original and the folded model within the tolerance.
 */
export async function foldAndVerify(
  model: ModelProto,
  tolerance: { rtol?: number; atol?: number } = {},
  options: FoldOptions = {},
): Promise<{ result: FoldResult; verification: VerifyResult; before: Uint8Array; after: Uint8Array }> {
  const before = encodeModel(model);
  const result = foldBatchNorm(model, options);
  const after = encodeModel(result.model);
  const verification = await verifyFold(before, after, { rtol: tolerance.rtol ?? 1e-5, atol: tolerance.atol ?? 1e-6 });
  return { result, verification, before, after };
}

export async function runOrt(bytes: Uint8Array, feeds: Record<string, ort.Tensor>): Promise<Record<string, ort.Tensor>> {
  const session = await ort.InferenceSession.create(bytes, { graphOptimizationLevel: 'disabled' });
  try {
    return await session.run(feeds);
  } finally {
    await session.release();
  }
}

/**
 * A test that runs onnx.checker (OnnxChecker.run() returns 0 instead of checking when python3-onnx
 * is missing). Decided when the test is defined, so that jest reports it: skipped when the package
 * is missing and SSD_SKIP_ONNX_CHECKER=1; failing with the install hint when it is missing
 * without that opt-out; run otherwise.
 */
export function itWithOnnxChecker(name: string, fn: () => void): void {
  let available: boolean;
  try {
    available = pythonOnnxAvailable();
  } catch (err) {
    it(name, () => {
      throw err;
    });
    return;
  }
  (available ? it : it.skip)(name, fn);
}
