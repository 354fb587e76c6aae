// Original file: protos/ssd/v1/ssd.proto

import type { Image as _ssd_v1_Image, Image__Output as _ssd_v1_Image__Output } from '../../ssd/v1/Image';
import type { DetectOptions as _ssd_v1_DetectOptions, DetectOptions__Output as _ssd_v1_DetectOptions__Output } from '../../ssd/v1/DetectOptions';

export interface DetectRequest {
  'images'?: (_ssd_v1_Image)[];
  'options'?: (_ssd_v1_DetectOptions | null);
}

export interface DetectRequest__Output {
  'images': (_ssd_v1_Image__Output)[];
  'options': (_ssd_v1_DetectOptions__Output | null);
}
