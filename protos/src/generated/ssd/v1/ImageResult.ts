// Original file: protos/ssd/v1/ssd.proto

import type { ImageStatus as _ssd_v1_ImageStatus, ImageStatus__Output as _ssd_v1_ImageStatus__Output } from '../../ssd/v1/ImageStatus';
import type { Detection as _ssd_v1_Detection, Detection__Output as _ssd_v1_Detection__Output } from '../../ssd/v1/Detection';

export interface ImageResult {
  'id'?: (string);
  'status'?: (_ssd_v1_ImageStatus | null);
  /**
   * Ordered by score, highest first.
   */
  'detections'?: (_ssd_v1_Detection)[];
  /**
   * Size of the image as decoded (after EXIF orientation), in pixels.
   */
  'width'?: (number);
  'height'?: (number);
}

export interface ImageResult__Output {
  'id': (string);
  'status': (_ssd_v1_ImageStatus__Output | null);
  /**
   * Ordered by score, highest first.
   */
  'detections': (_ssd_v1_Detection__Output)[];
  /**
   * Size of the image as decoded (after EXIF orientation), in pixels.
   */
  'width': (number);
  'height': (number);
}
