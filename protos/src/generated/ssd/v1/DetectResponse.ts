// Original file: protos/ssd/v1/ssd.proto

import type { ImageResult as _ssd_v1_ImageResult, ImageResult__Output as _ssd_v1_ImageResult__Output } from '../../ssd/v1/ImageResult';

export interface DetectResponse {
  /**
   * One per request image, in request order.
   */
  'results'?: (_ssd_v1_ImageResult)[];
  /**
   * Name of the model that produced the results.
   */
  'model'?: (string);
}

export interface DetectResponse__Output {
  /**
   * One per request image, in request order.
   */
  'results': (_ssd_v1_ImageResult__Output)[];
  /**
   * Name of the model that produced the results.
   */
  'model': (string);
}
