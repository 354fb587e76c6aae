// What crosses the thread boundary between the detector's main thread and its workers.
import type { Detection, DetectOptions, SsdSpec } from '@edge-ssd/ssd-core';
import type { PixelImage } from './preprocess';

export interface WorkerSettings {
  modelPath: string;
  spec: SsdSpec;
  intraOpThreads: number;
  ortSpinning: boolean;
  maxBatch: number;
}

/** One session run: up to maxBatch images, their pixel buffers transferred, not copied. */
export interface InferenceTask {
  images: PixelImage[];
  options: DetectOptions;
}

/** Detections per task image, in task order, boxes normalised to the image. */
export type InferenceResult = Detection[][];

/** Posted by a worker once its session is loaded and warmed up. */
export const SESSION_READY = 'edge-ssd:session-ready';
