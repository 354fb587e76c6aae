// Client image -> interleaved 8-bit pixels at full resolution. Decoding runs on libuv's
// threads through sharp, off the JS thread; resizing happens later in the workers, where it
// is done exactly as OpenCV does it (sharp's resize is not cv2.resize).
//
// Pixel limits are checked from the header (width x height as declared), before any pixel is
// decoded, so a small file that declares a huge image costs nothing.
//
// EXIF policy: JPEG/WebP orientation tags are applied, so width/height and boxes refer to
// the image as a viewer shows it.
import type Sharp from 'sharp';
import type { InputSpec } from '@edge-ssd/ssd-core';
import type { ImageSource, PixelImage } from './image';

// Loaded on first use: a process that only runs sessions (a worker thread, the arm64 proof on a
// board without libvips) never loads the codec library.
let sharpModule: typeof Sharp | undefined;
function sharp(input: Uint8Array, options: Sharp.SharpOptions): Sharp.Sharp {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded lazily on purpose (above)
  sharpModule ??= require('sharp') as typeof Sharp;
  return sharpModule(input, options);
}

/** Why an image cannot be served: it is not a usable image, or it is over a limit. */
export type ImageProblem = 'invalid' | 'too-large';

/** A problem with one image of a batch; the rest of the batch is still served. */
export class ImageError extends Error {
  override readonly name = 'ImageError';
  constructor(
    readonly problem: ImageProblem,
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

/**
 * How an encoded image becomes the pixels the preprocessor resizes. `exact`: decoded at full
 * resolution, then resized exactly as cv2.resize does. `fast` (opt-in): an image larger than the
 * network input on both axes is reduced by libvips while it is decoded (at twice the input or
 * more, a JPEG or WebP is first shrunk on load by a power of two inside the decoder; the rest is a
 * triangle filter), so the worker receives the input size; upscales and raw pixels stay exact.
 */
export type ImagePath = 'exact' | 'fast';

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

/**
 * What an image will cost before any pixel is decoded: its size from the header, and the bytes
 * decoding it may hold at its peak. Measured here with libvips 8.17 on 4000x4000 images, as a
 * multiple of the w x h x 3 output: baseline JPEG and PNG (with or without alpha) 1.15-1.2x,
 * progressive JPEG 2.0-2.2x (every coefficient is kept until the last scan), WebP 2.0-3.5x; an
 * EXIF rotation needs one more full copy.
 */
export interface ImageProbe {
  format: Format | 'raw';
  /** The image as a viewer shows it (after its EXIF rotation). */
  width: number;
  height: number;
  /** Bytes of the decoded RGB image the worker receives. */
  pixelBytes: number;
  /** Peak bytes while decoding (>= pixelBytes), the plain copy made of libvips' output included. */
  decodeBytes: number;
}

const DECODE_FACTOR: Record<Format, number> = { jpeg: 1.25, png: 1.25, webp: 3.5 };
const PROGRESSIVE_JPEG_FACTOR = 2.5;

/** Checks an image's size and limits from its header (or raw fields) without decoding it. */
export async function probeImage(image: ImageSource, limits: DecodeLimits): Promise<ImageProbe> {
  const size = image.kind === 'raw' ? image.data.length : image.bytes.length;
  if (size > limits.maxBytes) throw new ImageError('too-large', `image has ${size} bytes, over the ${limits.maxBytes}-byte limit`);
  if (image.kind === 'raw') {
    const { width, height } = checkRaw(image, limits);
    // The pixels arrive inside the request; the copy the worker takes is what decoding adds.
    return { format: 'raw', width, height, pixelBytes: width * height * 3, decodeBytes: width * height * 3 };
  }
  const format = sniffFormat(image.bytes);
  if (!format) throw new ImageError('invalid', 'unsupported or corrupt image: expected JPEG, PNG or WebP data');
  let meta: Sharp.Metadata;
  try {
    meta = await sharp(image.bytes, { limitInputPixels: false, failOn: 'error' }).metadata();
  } catch (error) {
    throw new ImageError('invalid', `cannot decode ${format} image: ${firstLine(error)}`);
  }
  if (!meta.width || !meta.height) throw new ImageError('invalid', `cannot decode ${format} image: no size in its header`);
  const { width, height } = meta.autoOrient ?? meta;
  if (width * height > limits.maxPixels) {
    throw new ImageError('too-large', `${format} image ${width}x${height} exceeds the ${limits.maxPixels}-pixel limit`);
  }
  const pixelBytes = width * height * 3;
  const factor = (format === 'jpeg' && meta.isProgressive ? PROGRESSIVE_JPEG_FACTOR : DECODE_FACTOR[format]) + ((meta.orientation ?? 1) > 1 ? 1 : 0);
  // Decoding ends with libvips' output and the transferable copy of it side by side.
  return { format, width, height, pixelBytes, decodeBytes: Math.ceil(pixelBytes * (factor + 1)) };
}

/**
 * The size libvips resizes to in the fast path, or undefined where the image stays exact: what
 * the preprocessor would sample from the image (all of it for a warp, the padded square for a
 * letterbox) must be larger than the input on both axes.
 */
export function fastDecodeSize(probe: ImageProbe, input: Pick<InputSpec, 'width' | 'height' | 'resize'>): { width: number; height: number } | undefined {
  if (probe.format === 'raw') return undefined;
  const { width, height } = probe;
  if (input.resize === 'warp') return width > input.width && height > input.height ? { width: input.width, height: input.height } : undefined;
  // A letterbox pads to a square of the longer side: scale that side to the input's.
  const side = Math.max(width, height);
  if (side <= Math.max(input.width, input.height)) return undefined;
  const scale = input.width / side;
  return { width: Math.max(1, Math.round(width * scale)), height: Math.max(1, Math.round(height * scale)) };
}

/**
 * Decodes an image probed by probeImage: to full-resolution interleaved pixels, or, given a
 * `resizeTo` from fastDecodeSize, to about that size (a warp to exactly it). Boxes normalised to
 * the result are normalised to the original image too: the aspect ratio is kept, or warped as
 * the network warps it.
 */
export async function decodeProbed(image: ImageSource, probe: ImageProbe, limits: DecodeLimits, resizeTo?: { width: number; height: number }): Promise<PixelImage> {
  if (image.kind === 'raw') {
    // The request buffer is shared with the rest of the message; the worker reads its own copy.
    return { data: sharedCopy(image.data), width: image.width, height: image.height, order: image.order! };
  }
  try {
    let pipeline = sharp(image.bytes, { limitInputPixels: limits.maxPixels, failOn: 'error' }).rotate();
    if (resizeTo) pipeline = pipeline.resize(resizeTo.width, resizeTo.height, { fit: 'fill', kernel: 'linear', fastShrinkOnLoad: true });
    const { data, info } = await pipeline.removeAlpha().toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
    if (info.channels !== 3) throw new Error(`decoded to ${info.channels} channels`);
    return { data: sharedCopy(data), width: info.width, height: info.height, order: 'RGB' };
  } catch (error) {
    const message = firstLine(error);
    if (/pixel limit/i.test(message)) throw new ImageError('too-large', `${probe.format} image exceeds the ${limits.maxPixels}-pixel limit`);
    throw new ImageError('invalid', `cannot decode ${probe.format} image: ${message}`);
  }
}

/** probeImage then decodeProbed, for callers that do not budget memory. */
export async function decodeImage(image: ImageSource, limits: DecodeLimits): Promise<PixelImage> {
  return decodeProbed(image, await probeImage(image, limits), limits);
}

/**
 * The pixels in shared memory: a worker reads them where they are (no copy per run, and a failed
 * run can be run again with the same pixels). sharp's own buffer could not be handed over anyway:
 * it belongs to libvips, and postMessage would silently copy it.
 */
function sharedCopy(bytes: Uint8Array): Uint8Array {
  const shared = new Uint8Array(new SharedArrayBuffer(bytes.length));
  shared.set(bytes);
  return shared;
}

function firstLine(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).split('\n')[0]!;
}

function checkRaw(raw: Extract<ImageSource, { kind: 'raw' }>, limits: DecodeLimits): { width: number; height: number } {
  const { width, height, order, data } = raw;
  if (width === 0 || height === 0) throw new ImageError('invalid', `raw image has zero size ${width}x${height}`);
  if (order === undefined) throw new ImageError('invalid', 'raw image pixel format must be RGB8 or BGR8');
  if (width * height > limits.maxPixels) {
    throw new ImageError('too-large', `raw image ${width}x${height} exceeds the ${limits.maxPixels}-pixel limit`);
  }
  const expected = width * height * 3;
  if (data.length !== expected) {
    throw new ImageError('invalid', `raw image data has ${data.length} bytes, expected ${expected} (${width}x${height}x3)`);
  }
  return { width, height };
}
