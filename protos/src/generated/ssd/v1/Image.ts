// Original file: protos/ssd/v1/ssd.proto

import type { RawImage as _ssd_v1_RawImage, RawImage__Output as _ssd_v1_RawImage__Output } from '../../ssd/v1/RawImage';

export interface Image {
  /**
   * Echoed back in ImageResult.id; not interpreted.
   */
  'id'?: (string);
  /**
   * JPEG, PNG or WebP file bytes.
   */
  'encoded'?: (Buffer | Uint8Array | string);
  'raw'?: (_ssd_v1_RawImage | null);
  'source'?: "encoded"|"raw";
}

export interface Image__Output {
  /**
   * Echoed back in ImageResult.id; not interpreted.
   */
  'id': (string);
  /**
   * JPEG, PNG or WebP file bytes.
   */
  'encoded'?: (Buffer);
  'raw'?: (_ssd_v1_RawImage__Output | null);
  'source'?: "encoded"|"raw";
}
