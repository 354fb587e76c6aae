// Images as the pipeline passes them along.

type PixelOrder = 'RGB' | 'BGR';

/** Decoded pixels: interleaved 8-bit, 3 channels, rows without padding. */
export interface PixelImage {
  data: Uint8Array;
  width: number;
  height: number;
  order: PixelOrder;
}

/** An image as a client sends it: an encoded file (JPEG, PNG or WebP) or raw pixels. */
export type ImageSource =
  | { kind: 'encoded'; bytes: Uint8Array }
  | { kind: 'raw'; width: number; height: number; order: PixelOrder | undefined; data: Uint8Array };
