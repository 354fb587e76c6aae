// Original file: protos/ssd/v1/ssd.proto

import type { Frame as _ssd_v1_Frame, Frame__Output as _ssd_v1_Frame__Output } from '../../ssd/v1/Frame';
import type { DetectOptions as _ssd_v1_DetectOptions, DetectOptions__Output as _ssd_v1_DetectOptions__Output } from '../../ssd/v1/DetectOptions';
import type { OverloadPolicy as _ssd_v1_OverloadPolicy, OverloadPolicy__Output as _ssd_v1_OverloadPolicy__Output } from '../../ssd/v1/OverloadPolicy';

/**
 * One message of a DetectStream call. The first message's options, policy and max_in_flight are
 * the stream's; later messages' are ignored. The first message may carry them alone, without a
 * frame; every other message should carry a frame.
 */
export interface DetectStreamRequest {
  'frame'?: (_ssd_v1_Frame | null);
  'options'?: (_ssd_v1_DetectOptions | null);
  'policy'?: (_ssd_v1_OverloadPolicy);
  /**
   * Frames of this stream being detected at once: 0 = the gateway's default; capped by the gateway.
   */
  'maxInFlight'?: (number);
}

/**
 * One message of a DetectStream call. The first message's options, policy and max_in_flight are
 * the stream's; later messages' are ignored. The first message may carry them alone, without a
 * frame; every other message should carry a frame.
 */
export interface DetectStreamRequest__Output {
  'frame': (_ssd_v1_Frame__Output | null);
  'options': (_ssd_v1_DetectOptions__Output | null);
  'policy': (_ssd_v1_OverloadPolicy__Output);
  /**
   * Frames of this stream being detected at once: 0 = the gateway's default; capped by the gateway.
   */
  'maxInFlight': (number);
}
