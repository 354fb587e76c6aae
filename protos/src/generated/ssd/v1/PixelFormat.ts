// Original file: protos/ssd/v1/ssd.proto

export const PixelFormat = {
  PIXEL_FORMAT_UNSPECIFIED: 'PIXEL_FORMAT_UNSPECIFIED',
  RGB8: 'RGB8',
  BGR8: 'BGR8',
} as const;

export type PixelFormat =
  | 'PIXEL_FORMAT_UNSPECIFIED'
  | 0
  | 'RGB8'
  | 1
  | 'BGR8'
  | 2

export type PixelFormat__Output = typeof PixelFormat[keyof typeof PixelFormat]
