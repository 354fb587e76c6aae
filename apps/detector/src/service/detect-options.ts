// Wire options -> ssd-core options. On the wire 0 or empty means "the model's default", which
// in ssd-core is spelled `undefined`.
import type { DetectOptions as WireOptions } from '@edge-ssd/protos';
import type { DetectOptions } from '@edge-ssd/ssd-core';

export class OptionsError extends Error {
  override readonly name = 'OptionsError';
}

/** Server maxima: they bound a request's post-processing time and its response's size. */
export interface OptionLimits {
  maxTopK: number;
  maxKeepTopK: number;
}

export function toDetectOptions(wire: WireOptions | null | undefined, numClasses: number, limits: OptionLimits): DetectOptions {
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
  if (topK > limits.maxTopK) throw new OptionsError(`top_k must be at most ${limits.maxTopK}, got ${topK}`);
  if (keepTopK > limits.maxKeepTopK) throw new OptionsError(`keep_top_k must be at most ${limits.maxKeepTopK}, got ${keepTopK}`);
  if (topK > 0) options.topK = topK;
  if (keepTopK > 0) options.keepTopK = keepTopK;
  if (classIds.length > numClasses) throw new OptionsError(`class_ids has ${classIds.length} entries, but the model has ${numClasses} classes`);
  if (classIds.length > 0) {
    const bad = classIds.find((id) => id >= numClasses);
    if (bad !== undefined) throw new OptionsError(`class_ids contains ${bad}, but the model has ${numClasses} classes`);
    options.classIds = classIds;
  }
  return options;
}
