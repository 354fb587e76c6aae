// Image -> network input over typed arrays: bilinear resize with OpenCV's INTER_LINEAR
// semantics (half-pixel centres, no antialiasing on downscale, edge clamp, result rounded to 8
// bits as cv2.resize on a uint8 image does), then (x - mean) * scale in the model's channel
// order, written planar (NCHW) straight into the batch tensor. A letterbox
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

// OpenCV's uint8 INTER_LINEAR arithmetic: 11-bit fixed-point weights, a horizontal pass into
// integer rows, a vertical pass that rounds once at the end. Separable and integer, it is both
// closer to cv2.resize and about twice as fast as interpolating four taps in floating point.
const COEF_BITS = 11;
const COEF_SCALE = 1 << COEF_BITS;
const ROUND_SHIFT = 2 * COEF_BITS;
const ROUND_HALF = 1 << (ROUND_SHIFT - 1);

/** Per destination coordinate: the two source taps and their fixed-point weights. */
interface AxisTaps {
  lo: Int32Array;
  hi: Int32Array;
  wLo: Int32Array;
  wHi: Int32Array;
}

/**
 * Taps over a source of `extent` pixels of which only the first `valid` exist (the rest is
 * letterbox padding, read as 0: such a tap gets weight 0 at index 0).
 */
function axisTaps(extent: number, valid: number, dstSize: number): AxisTaps {
  const taps: AxisTaps = { lo: new Int32Array(dstSize), hi: new Int32Array(dstSize), wLo: new Int32Array(dstSize), wHi: new Int32Array(dstSize) };
  const scale = extent / dstSize;
  for (let d = 0; d < dstSize; d++) {
    // OpenCV computes the source coordinate in float32; so do we, to land on the same taps.
    let f = Math.fround((d + 0.5) * scale - 0.5);
    let s = Math.floor(f);
    f -= s;
    if (s < 0) {
      s = 0;
      f = 0;
    }
    if (s >= extent - 1) {
      s = extent - 1;
      f = 0;
    }
    const hi = Math.min(s + 1, extent - 1);
    const wLo = Math.round((1 - f) * COEF_SCALE);
    const wHi = Math.round(f * COEF_SCALE);
    taps.lo[d] = s < valid ? s : 0;
    taps.wLo[d] = s < valid ? wLo : 0;
    taps.hi[d] = hi < valid ? hi : 0;
    taps.wHi[d] = hi < valid ? wHi : 0;
  }
  return taps;
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
  const xs = axisTaps(extent.width, sw, dw);
  const ys = axisTaps(extent.height, sh, dh);
  // Byte offsets of the horizontal taps, per destination column.
  const xLo = Int32Array.from(xs.lo, (x) => x * 3);
  const xHi = Int32Array.from(xs.hi, (x) => x * 3);
  // Plane p of the output holds model channel p; find where that channel sits in the source.
  const swap = image.order !== input.channelOrder;
  const src0 = swap ? 2 : 0;
  const src2 = swap ? 0 : 2;
  // (v - mean) * scale for every 8-bit value, per output plane.
  const lut = [0, 1, 2].map((c) => Float32Array.from({ length: 256 }, (_, v) => (v - input.mean[c]) * input.scale));
  const [lut0, lut1, lut2] = lut as [Float32Array, Float32Array, Float32Array];
  const plane = dw * dh;
  const rowLength = dw * 3;
  // Horizontally resized source rows, cached: consecutive output rows share source rows.
  const rows = [new Int32Array(rowLength), new Int32Array(rowLength)];
  const rowOf = [-1, -1];
  let next = 0;
  const horizontal = (y: number): Int32Array => {
    const cached = rowOf.indexOf(y);
    if (cached >= 0) return rows[cached];
    const slot = next;
    next ^= 1;
    const row = rows[slot];
    rowOf[slot] = y;
    const base = y * sw * 3;
    for (let dx = 0, o = 0; dx < dw; dx++, o += 3) {
      const a = base + xLo[dx];
      const b = base + xHi[dx];
      const wa = xs.wLo[dx];
      const wb = xs.wHi[dx];
      row[o] = data[a + src0] * wa + data[b + src0] * wb;
      row[o + 1] = data[a + 1] * wa + data[b + 1] * wb;
      row[o + 2] = data[a + src2] * wa + data[b + src2] * wb;
    }
    return row;
  };
  for (let dy = 0; dy < dh; dy++) {
    // A padded row contributes nothing: its weight is 0, whichever row it reads.
    const top = horizontal(ys.lo[dy]);
    const bottom = horizontal(ys.hi[dy]);
    const wt = ys.wLo[dy];
    const wb = ys.wHi[dy];
    let o = offset + dy * dw;
    for (let i = 0; i < rowLength; i += 3, o++) {
      out[o] = lut0[(top[i] * wt + bottom[i] * wb + ROUND_HALF) >> ROUND_SHIFT];
      out[o + plane] = lut1[(top[i + 1] * wt + bottom[i + 1] * wb + ROUND_HALF) >> ROUND_SHIFT];
      out[o + 2 * plane] = lut2[(top[i + 2] * wt + bottom[i + 2] * wb + ROUND_HALF) >> ROUND_SHIFT];
    }
  }
}
