// Original file: protos/ssd/v1/ssd.proto

import type { Box as _ssd_v1_Box, Box__Output as _ssd_v1_Box__Output } from '../../ssd/v1/Box';

export interface Detection {
  'classId'?: (number);
  'label'?: (string);
  'score'?: (number | string);
  /**
   * Normalised to the image exactly as Caffe's DetectionOutput gives it: not clipped, so it can
   * extend beyond [0, 1].
   */
  'box'?: (_ssd_v1_Box | null);
  /**
   * box multiplied by the image width and height.
   */
  'pixelBox'?: (_ssd_v1_Box | null);
}

export interface Detection__Output {
  'classId': (number);
  'label': (string);
  'score': (number);
  /**
   * Normalised to the image exactly as Caffe's DetectionOutput gives it: not clipped, so it can
   * extend beyond [0, 1].
   */
  'box': (_ssd_v1_Box__Output | null);
  /**
   * box multiplied by the image width and height.
   */
  'pixelBox': (_ssd_v1_Box__Output | null);
}
