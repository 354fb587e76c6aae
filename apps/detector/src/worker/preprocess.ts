// Image -> network input, in one pass over typed arrays: bilinear resize with OpenCV's
// INTER_LINEAR semantics (half-pixel centres, no antialiasing on downscale, edge clamp, result
// rounded to 8 bits as cv2.resize on a uint8 image does), then (x - mean) * scale in the
// model's channel order, written planar (NCHW) straight into the batch tensor. A letterbox
// model sees the image zero-padded to a square first, exactly as if the padded image had been
// handed to cv2.resize, without ever materialising the padding.
import type { InputSpec } from '@edge-ssd/ssd-core';

export type PixelOrder = 'RGB' | 'BGR';

export interface PixelImage {
  /** Interleaved 8-bit pixels, 3 channels, rows without padding. */
  data: Uint8Array;
  width: number;
  height: number;
  order: PixelOrder;
}

/** Source index and weight of the far neighbour for each destination coordinate. */
interface AxisTaps {
  lo: Int32Array;
  hi: Int32Array;
  frac: Float32Array;
}

function axisTaps(srcSize: number, dstSize: number): AxisTaps {
  const lo = new Int32Array(dstSize);
  const hi = new Int32Array(dstSize);
  const frac = new Float32Array(dstSize);
  const scale = srcSize / dstSize;
  for (let d = 0; d < dstSize; d++) {
    // OpenCV computes the source coordinate in float32; so do we, to land on the same taps.
    let f = Math.fround((d + 0.5) * scale - 0.5);
    let s = Math.floor(f);
    f -= s;
    if (s < 0) {
      s = 0;
      f = 0;
    }
    if (s >= srcSize - 1) {
      s = srcSize - 1;
      f = 0;
    }
    lo[d] = s;
    hi[d] = Math.min(s + 1, srcSize - 1);
    frac[d] = f;
  }
  return { lo, hi, frac };
}

/**
 * The square a letterboxed image is padded to: zeros at the bottom or right only (face-api's
 * padToSquare), so the image keeps its top-left corner and its aspect ratio.
 */
function sourceExtent(image: PixelImage, input: InputSpec): { width: number; height: number } {
  if (input.resize === 'warp') return { width: image.width, height: image.height };
  const side = Math.max(image.width, image.height);
  return { width: side, height: side };
}

/**
 * Factors that take a box normalised to the network input back to one normalised to the image:
 * 1 for a warp; the padded square over the image's own size for a letterbox.
 */
export function inputToImageScale(image: { width: number; height: number }, input: InputSpec): { x: number; y: number } {
  if (input.resize === 'warp') return { x: 1, y: 1 };
  const side = Math.max(image.width, image.height);
  return { x: side / image.width, y: side / image.height };
}

/**
 * Writes one image into `out` at `offset` (3 x height x width floats), resized to the input size
 * as the spec says (warped, or letterboxed: padded with zeros to a square first).
 */
export function preprocessInto(image: PixelImage, input: InputSpec, out: Float32Array, offset: number): void {
  const { width: dw, height: dh } = input;
  const { data, width: sw, height: sh } = image;
  if (data.length !== sw * sh * 3) throw new RangeError(`image data has ${data.length} bytes, expected ${sw * sh * 3}`);
  if (out.length < offset + 3 * dw * dh) throw new RangeError('output tensor too small');
  const extent = sourceExtent(image, input);
  const xs = axisTaps(extent.width, dw);
  const ys = axisTaps(extent.height, dh);
  // Byte offsets of each tap, or -1 where it falls in the zero padding (letterbox only).
  const xLo = Int32Array.from(xs.lo, (x) => (x < sw ? x * 3 : -1));
  const xHi = Int32Array.from(xs.hi, (x) => (x < sw ? x * 3 : -1));
  const yLo = Int32Array.from(ys.lo, (y) => (y < sh ? y * sw * 3 : -1));
  const yHi = Int32Array.from(ys.hi, (y) => (y < sh ? y * sw * 3 : -1));
  // Plane p of the output holds model channel p; find where that channel sits in the source.
  const swap = image.order !== input.channelOrder;
  const c0 = swap ? 2 : 0;
  const c2 = swap ? 0 : 2;
  const plane = dw * dh;
  const [m0, m1, m2] = input.mean;
  const scale = input.scale;
  // Interpolated values are >= 0, so (v + 0.5) | 0 rounds half up exactly like Math.round, faster.
  const at = (row: number, col: number, c: number): number => (row < 0 || col < 0 ? 0 : data[row + col + c]);
  for (let dy = 0; dy < dh; dy++) {
    const fy = ys.frac[dy];
    const gy = 1 - fy;
    const row0 = yLo[dy];
    const row1 = yHi[dy];
    const padded = row0 < 0 || row1 < 0;
    let o = offset + dy * dw;
    for (let dx = 0; dx < dw; dx++, o++) {
      const fx = xs.frac[dx];
      const gx = 1 - fx;
      const w00 = gx * gy;
      const w01 = fx * gy;
      const w10 = gx * fy;
      const w11 = fx * fy;
      const x0 = xLo[dx];
      const x1 = xHi[dx];
      let v0: number, v1: number, v2: number;
      if (padded || x0 < 0 || x1 < 0) {
        v0 = (at(row0, x0, c0) * w00 + at(row0, x1, c0) * w01 + at(row1, x0, c0) * w10 + at(row1, x1, c0) * w11 + 0.5) | 0;
        v1 = (at(row0, x0, 1) * w00 + at(row0, x1, 1) * w01 + at(row1, x0, 1) * w10 + at(row1, x1, 1) * w11 + 0.5) | 0;
        v2 = (at(row0, x0, c2) * w00 + at(row0, x1, c2) * w01 + at(row1, x0, c2) * w10 + at(row1, x1, c2) * w11 + 0.5) | 0;
      } else {
        const a = row0 + x0;
        const b = row0 + x1;
        const c = row1 + x0;
        const d = row1 + x1;
        v0 = (data[a + c0] * w00 + data[b + c0] * w01 + data[c + c0] * w10 + data[d + c0] * w11 + 0.5) | 0;
        v1 = (data[a + 1] * w00 + data[b + 1] * w01 + data[c + 1] * w10 + data[d + 1] * w11 + 0.5) | 0;
        v2 = (data[a + c2] * w00 + data[b + c2] * w01 + data[c + c2] * w10 + data[d + c2] * w11 + 0.5) | 0;
      }
      out[o] = (v0 - m0) * scale;
      out[o + plane] = (v1 - m1) * scale;
      out[o + 2 * plane] = (v2 - m2) * scale;
    }
  }
}
