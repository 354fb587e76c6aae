// Wire options -> ssd-core options. On the wire 0 or empty means "the model's default", which
// in ssd-core is spelled `undefined`.
import type { DetectOptions as WireOptions } from '@edge-ssd/protos';
import type { DetectOptions } from '@edge-ssd/ssd-core';

export class OptionsError extends Error {
  override readonly name = 'OptionsError';
}

export function toDetectOptions(wire: WireOptions | null | undefined, numClasses: number): DetectOptions {
  if (!wire) return {};
  const options: DetectOptions = {};
  const { scoreThreshold, iouThreshold, topK, keepTopK, classIds } = wire;
  if (!Number.isFinite(scoreThreshold) || scoreThreshold < 0 || scoreThreshold >= 1) {
    throw new OptionsError(`score_threshold must be in [0, 1), got ${scoreThreshold}`);
  }
  if (!Number.isFinite(iouThreshold) || iouThreshold < 0 || iouThreshold > 1) {
    throw new OptionsError(`iou_threshold must be in [0, 1], got ${iouThreshold}`);
  }
  if (scoreThreshold > 0) options.scoreThreshold = scoreThreshold;
  if (iouThreshold > 0) options.iouThreshold = iouThreshold;
  if (topK > 0) options.topK = topK;
  if (keepTopK > 0) options.keepTopK = keepTopK;
  if (classIds.length > 0) {
    const bad = classIds.find((id) => id >= numClasses);
    if (bad !== undefined) throw new OptionsError(`class_ids contains ${bad}, but the model has ${numClasses} classes`);
    options.classIds = classIds;
  }
  return options;
}
