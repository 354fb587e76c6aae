// Original file: protos/ssd/v1/ssd.proto

import type { PixelFormat as _ssd_v1_PixelFormat, PixelFormat__Output as _ssd_v1_PixelFormat__Output } from '../../ssd/v1/PixelFormat';

/**
 * Uncompressed pixels: interleaved 8-bit rows, no padding, data.length == width * height * 3.
 */
export interface RawImage {
  'width'?: (number);
  'height'?: (number);
  'format'?: (_ssd_v1_PixelFormat);
  'data'?: (Buffer | Uint8Array | string);
}

/**
 * Uncompressed pixels: interleaved 8-bit rows, no padding, data.length == width * height * 3.
 */
export interface RawImage__Output {
  'width': (number);
  'height': (number);
  'format': (_ssd_v1_PixelFormat__Output);
  'data': (Buffer);
}
