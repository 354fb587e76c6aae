// What crosses the thread boundary between the detector's main thread and its workers.
import type { Detection, SsdSpec } from '@edge-ssd/ssd-core';
import type { SessionItem } from '@edge-ssd/ssd-pipeline';

export interface WorkerSettings {
  modelPath: string;
  spec: SsdSpec;
  intraOpThreads: number;
  ortSpinning: boolean;
  maxBatch: number;
  /** Shared counter of free session runs (run-gate.ts), when the pool has more workers than runs. */
  runGate?: SharedArrayBuffer;
}

/** One image of a session run, with the options of the request it came from. */
export type InferenceItem = SessionItem;

/**
 * One session run: up to maxBatch images, possibly from different requests. Pixels are in shared
 * memory (SharedArrayBuffer): neither copied nor moved, so a failed run can be run again.
 */
export interface InferenceTask {
  items: InferenceItem[];
}

/** Detections per task image, in task order, boxes normalised to the image. */
export type InferenceResult = Detection[][];

/** Posted by a worker once its session is loaded and warmed up. */
export const SESSION_READY = 'edge-ssd:session-ready';
