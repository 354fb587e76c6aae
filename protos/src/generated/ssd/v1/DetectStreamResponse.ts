// Original file: protos/ssd/v1/ssd.proto

import type { ImageResult as _ssd_v1_ImageResult, ImageResult__Output as _ssd_v1_ImageResult__Output } from '../../ssd/v1/ImageResult';
import type { DropReason as _ssd_v1_DropReason, DropReason__Output as _ssd_v1_DropReason__Output } from '../../ssd/v1/DropReason';
import type { Long } from '@grpc/proto-loader';

/**
 * The answer to one frame, sent in sequence order.
 */
export interface DetectStreamResponse {
  'sequence'?: (number | string | Long);
  /**
   * As for one image of a DetectRequest. A dropped frame's status is ABORTED (superseded) or
   * DEADLINE_EXCEEDED (stale), with no detections.
   */
  'result'?: (_ssd_v1_ImageResult | null);
  'dropReason'?: (_ssd_v1_DropReason);
  /**
   * From the frame's arrival at the gateway to its answer, milliseconds.
   */
  'latencyMs'?: (number);
  /**
   * Name of the model that produced the result (empty for a dropped frame).
   */
  'model'?: (string);
}

/**
 * The answer to one frame, sent in sequence order.
 */
export interface DetectStreamResponse__Output {
  'sequence': (string);
  /**
   * As for one image of a DetectRequest. A dropped frame's status is ABORTED (superseded) or
   * DEADLINE_EXCEEDED (stale), with no detections.
   */
  'result': (_ssd_v1_ImageResult__Output | null);
  'dropReason': (_ssd_v1_DropReason__Output);
  /**
   * From the frame's arrival at the gateway to its answer, milliseconds.
   */
  'latencyMs': (number);
  /**
   * Name of the model that produced the result (empty for a dropped frame).
   */
  'model': (string);
}
