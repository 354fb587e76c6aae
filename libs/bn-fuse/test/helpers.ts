// Test helpers of the fold: fold + verify in one step, and onnxruntime runs.
import * as ort from 'onnxruntime-node';
import { type ModelProto, encodeModel } from '@edge-ssd/onnx-io';
import { type FoldOptions, type FoldResult, type VerifyResult, foldBatchNorm, verifyFold } from '@edge-ssd/bn-fuse';

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
