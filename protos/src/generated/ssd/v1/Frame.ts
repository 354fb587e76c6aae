// Original file: protos/ssd/v1/ssd.proto

import type { Image as _ssd_v1_Image, Image__Output as _ssd_v1_Image__Output } from '../../ssd/v1/Image';
import type { Long } from '@grpc/proto-loader';

export interface Frame {
  /**
   * Chosen by the client, strictly increasing along the stream (gaps allowed); echoed back.
   */
  'sequence'?: (number | string | Long);
  /**
   * The frame, as in DetectRequest; its id is echoed back in the result.
   */
  'image'?: (_ssd_v1_Image | null);
  /**
   * OVERLOAD_POLICY_LATEST only: drop this frame rather than start it when it has waited so long
   * at the gateway that its answer could not come within this many milliseconds of its arrival.
   * 0 = no limit.
   */
  'maxLatencyMs'?: (number);
}

export interface Frame__Output {
  /**
   * Chosen by the client, strictly increasing along the stream (gaps allowed); echoed back.
   */
  'sequence': (string);
  /**
   * The frame, as in DetectRequest; its id is echoed back in the result.
   */
  'image': (_ssd_v1_Image__Output | null);
  /**
   * OVERLOAD_POLICY_LATEST only: drop this frame rather than start it when it has waited so long
   * at the gateway that its answer could not come within this many milliseconds of its arrival.
   * 0 = no limit.
   */
  'maxLatencyMs': (number);
}
