// Client image -> interleaved 8-bit pixels at full resolution. Decoding runs on libuv's
// threads through sharp, off the JS thread; resizing happens later in the workers, where it
// is done exactly as OpenCV does it (sharp's resize is not cv2.resize).
//
// Pixel limits are checked from the header (width x height as declared), before any pixel is
// decoded, so a small file that declares a huge image costs nothing.
//
// EXIF policy: JPEG/WebP orientation tags are applied, so width/height and boxes refer to
// the image as a viewer shows it.
import { status } from '@grpc/grpc-js';
import sharp from 'sharp';
import type { Image } from '@edge-ssd/protos';
import type { PixelImage } from '../worker/preprocess';

/** A problem with one image of a batch; the rest of the batch is still served. */
export class ImageError extends Error {
  override readonly name = 'ImageError';
  constructor(
    readonly code: status,
    message: string,
  ) {
    super(message);
  }
}

export interface DecodeLimits {
  maxPixels: number;
  /** Largest encoded file or raw buffer accepted. */
  maxBytes: number;
}

type Format = 'jpeg' | 'png' | 'webp';

// Only the formats of the contract reach a decoder: sniffing first keeps SVG, TIFF, GIF and
// friends (and their parsers' attack surface) out.
export function sniffFormat(bytes: Uint8Array): Format | undefined {
  if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return 'jpeg';
  const png = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
  if (bytes.length >= 8 && png.every((b, i) => bytes[i] === b)) return 'png';
  const ascii = (from: number, to: number): string => String.fromCharCode(...bytes.subarray(from, to));
  if (bytes.length >= 12 && ascii(0, 4) === 'RIFF' && ascii(8, 12) === 'WEBP') return 'webp';
  return undefined;
}

export async function decodeImage(image: Image, limits: DecodeLimits): Promise<PixelImage> {
  const size = image.source === 'raw' ? (image.raw?.data.length ?? 0) : (image.encoded?.length ?? 0);
  if (size > limits.maxBytes) throw new ImageError(status.RESOURCE_EXHAUSTED, `image has ${size} bytes, over the ${limits.maxBytes}-byte limit`);
  if (image.source === 'raw' && image.raw) return rawImage(image.raw, limits);
  if (image.source === 'encoded' && image.encoded) return decodeEncoded(image.encoded, limits);
  throw new ImageError(status.INVALID_ARGUMENT, 'image has neither encoded nor raw data');
}

function rawImage(raw: NonNullable<Image['raw']>, limits: DecodeLimits): PixelImage {
  const { width, height, format, data } = raw;
  if (width === 0 || height === 0) throw new ImageError(status.INVALID_ARGUMENT, `raw image has zero size ${width}x${height}`);
  if (format !== 'RGB8' && format !== 'BGR8') throw new ImageError(status.INVALID_ARGUMENT, `raw image pixel format must be RGB8 or BGR8, got ${format}`);
  if (width * height > limits.maxPixels) {
    throw new ImageError(status.RESOURCE_EXHAUSTED, `raw image ${width}x${height} exceeds the ${limits.maxPixels}-pixel limit`);
  }
  const expected = width * height * 3;
  if (data.length !== expected) {
    throw new ImageError(status.INVALID_ARGUMENT, `raw image data has ${data.length} bytes, expected ${expected} (${width}x${height}x3)`);
  }
  // The request buffer is shared with the rest of the message; copy so the worker can own it.
  return { data: new Uint8Array(data), width, height, order: format === 'RGB8' ? 'RGB' : 'BGR' };
}

async function decodeEncoded(bytes: Buffer, limits: DecodeLimits): Promise<PixelImage> {
  const format = sniffFormat(bytes);
  if (!format) throw new ImageError(status.INVALID_ARGUMENT, 'unsupported or corrupt image: expected JPEG, PNG or WebP data');
  try {
    const { data, info } = await sharp(bytes, { limitInputPixels: limits.maxPixels, failOn: 'error' })
      .rotate()
      .removeAlpha()
      .toColourspace('srgb')
      .raw()
      .toBuffer({ resolveWithObject: true });
    if (info.channels !== 3) throw new Error(`decoded to ${info.channels} channels`);
    return { data: new Uint8Array(data.buffer, data.byteOffset, data.length), width: info.width, height: info.height, order: 'RGB' };
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    if (/pixel limit/i.test(message)) {
      throw new ImageError(status.RESOURCE_EXHAUSTED, `${format} image exceeds the ${limits.maxPixels}-pixel limit`);
    }
    throw new ImageError(status.INVALID_ARGUMENT, `cannot decode ${format} image: ${message.split('\n')[0]}`);
  }
}
