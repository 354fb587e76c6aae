// DeepStack's vision API (also served by CodeProject.AI Server), as Home Assistant, Node-RED, Blue
// Iris and Frigate speak it: a multipart form with the file field `image` and the optional fields
// `min_confidence` and `api_key`; the answer {success, predictions, duration} with each prediction's
// box in integer pixels of the image, or {success: false, error} with a 4xx/5xx status.
// Pure mapping between that and ssd.v1; the routes are in routes.ts.
import type { DetectOptions, Detection } from '@edge-ssd/protos';
import { ApiError } from './errors';

export type DeepStackRoute = 'detection' | 'face';

/** DeepStack's own default when a request sends no min_confidence. */
export const DEEPSTACK_MIN_CONFIDENCE = 0.4;

/** Face predictions carry no label, as DeepStack's /v1/vision/face answers. */
export interface DeepStackPrediction {
  label?: string;
  confidence: number;
  x_min: number;
  y_min: number;
  x_max: number;
  y_max: number;
}

export interface DeepStackAnswer {
  success: true;
  predictions: DeepStackPrediction[];
  /** Milliseconds the gateway spent on the request (DeepStack's field; an integer). */
  duration: number;
}

export interface DeepStackFailure {
  success: false;
  error: string;
  duration: number;
}

/** `min_confidence` as DeepStack reads it: a number in [0, 1]; absent or blank = DeepStack's default. */
export function parseMinConfidence(text: string | undefined): number {
  if (text === undefined || text.trim() === '') return DEEPSTACK_MIN_CONFIDENCE;
  const value = Number(text.trim());
  if (!Number.isFinite(value) || value < 0 || value > 1) throw new ApiError(400, `min_confidence must be a number from 0 to 1, got "${text}"`);
  return value;
}

/**
 * The detector options for a min_confidence: the threshold goes to the detector, so NMS never sees
 * what would be dropped. ssd.v1 reads 0 as "the model's default", so 0 is sent as the smallest
 * positive float: every detection.
 */
export function deepStackOptions(minConfidence: number): DetectOptions {
  return { scoreThreshold: Math.max(minConfidence, 1e-6), iouThreshold: 0, topK: 0, keepTopK: 0, classIds: [] };
}

function pixel(value: number, size: number): number {
  return Math.min(size, Math.max(0, Math.round(value)));
}

/**
 * Detections as DeepStack predictions: confidence at least min_confidence, the box in whole pixels
 * of the image as decoded, clipped to it (ssd.v1 boxes are Caffe's, unclipped).
 */
export function toPredictions(detections: readonly Detection[], image: { width: number; height: number }, route: DeepStackRoute, minConfidence: number): DeepStackPrediction[] {
  return detections
    .filter((d) => d.score >= minConfidence && d.pixelBox !== null)
    .map((d) => {
      const box = d.pixelBox!;
      const coordinates = { x_min: pixel(box.xmin, image.width), y_min: pixel(box.ymin, image.height), x_max: pixel(box.xmax, image.width), y_max: pixel(box.ymax, image.height) };
      return route === 'face' ? { confidence: d.score, ...coordinates } : { label: d.label, confidence: d.score, ...coordinates };
    });
}

export function deepStackFailure(error: string, durationMs: number): DeepStackFailure {
  return { success: false, error, duration: Math.round(durationMs) };
}
