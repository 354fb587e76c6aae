// What every front end hands the conversion pipeline: the graph as its source defines it
// (BatchNormalization nodes still in place, the SSD spec in its `ssd.spec` metadata) and where it
// came from. The pipeline folds, verifies and writes; the front ends never do.
import type { ModelProto } from '@edge-ssd/onnx-io';

/** Written into every model a front end builds (ModelProto.producer_name / producer_version). */
export const PRODUCER_NAME = 'edge-ssd';
export const PRODUCER_VERSION = '0.1.0';

/** The input cannot be used (CLI exit code 2); nothing is written. */
export class InputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

export interface Provenance {
  /** The input as the report's first line names it (several files joined by ' + '). */
  source: string;
  /** Every file read: an output must never overwrite one of them. */
  files: string[];
  /** Report lines on what was read, in the front end's own terms. */
  lines: string[];
  /** The same, as data for the JSON report. */
  details: Record<string, unknown>;
  /**
   * Verification tolerances this source's models need when the pipeline's defaults would be wrong
   * (face-api's float32 arithmetic over 35 real layers, see FACE_VERIFY_ATOL).
   */
  tolerance?: { rtol: number; atol: number };
}

export interface ImportedModel {
  model: ModelProto;
  provenance: Provenance;
  /** Time spent reading files and building the graph. */
  timings: { readMs: number; importMs: number };
}
