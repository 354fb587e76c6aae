// Image -> network input over typed arrays: cv2.resize(img, (w, h)) with the default INTER_LINEAR
// on a uint8 image, byte for byte as OpenCV 4.6 computes it on x86 (SSE2 baseline, 128-bit
// universal intrinsics; NEON has the same lane counts), then (x - mean) * scale in the model's
// channel order, written planar (NCHW) straight into the batch tensor. A letterbox model sees the
// image zero-padded to a square first, exactly as if the padded image had been handed to
// cv2.resize, without the padding ever being materialised.
//
// What makes it byte-exact (modules/imgproc/src/resize.cpp, resizeGeneric_ and its helpers):
// - source coordinates in float32: fx = (float)((dx + 0.5) * scale - 0.5), scale = 1 / (dst / src)
//   in double; weights (1.f - fx, fx) * 2048 rounded half to even into shorts (saturate_cast);
// - a horizontal pass into int rows (exact integer taps);
// - a vertical pass with the SIMD kernel's intermediate truncation: ((S >> 4) * beta) >> 16 per
//   source row (v_pack of S >> 4, then v_mul_hi), the two summed, then (sum + 2) >> 2
//   (v_rshr_pack_u<2>). Not the exact (S0 * b0 + S1 * b1 + 2^21) >> 22 of the scalar code: the
//   two differ by one grey level on ~13 % of values, and cv2 4.6 here matches the SIMD form on
//   every value of the row, tail included, at every width tried (3 to 1536 values per row);
// - borders: horizontally a tap past the edge moves onto it with weights (1, 0); vertically the
//   weights stay and the row index is clipped, so an edge row is read twice with two weights;
// - an exact 2x downscale on both axes is INTER_AREA instead: (a + b + c + d + 2) >> 2.
import type { InputSpec } from '@edge-ssd/ssd-core';
import type { PixelImage } from './image';

const COEF_SCALE = 1 << 11;

/** Per destination coordinate: the two source taps and their fixed-point weights. */
interface AxisTaps {
  lo: Int32Array;
  hi: Int32Array;
  wLo: Int32Array;
  wHi: Int32Array;
}

/** cvRound: to nearest, ties to even (what saturate_cast<short>(float) does). */
function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * Taps over a source of `extent` pixels of which only the first `valid` exist (the rest is
 * letterbox padding, read as 0: such a tap gets weight 0 at index 0). OpenCV treats the borders
 * of the two axes differently: horizontally a tap past the edge is moved onto the edge with
 * weights (1, 0); vertically the weights stay as computed and only the row index is clipped, so
 * an edge row is read twice with two weights (which rounds differently in the SIMD pass).
 */
function axisTaps(extent: number, valid: number, dstSize: number, axis: 'x' | 'y'): AxisTaps {
  const taps: AxisTaps = { lo: new Int32Array(dstSize), hi: new Int32Array(dstSize), wLo: new Int32Array(dstSize), wHi: new Int32Array(dstSize) };
  const scale = 1 / (dstSize / extent);
  const clip = (i: number): number => Math.min(Math.max(i, 0), extent - 1);
  for (let d = 0; d < dstSize; d++) {
    let f = Math.fround((d + 0.5) * scale - 0.5);
    let s = Math.floor(f);
    f = Math.fround(f - s);
    if (axis === 'x' && s < 0) {
      s = 0;
      f = 0;
    }
    if (axis === 'x' && s >= extent - 1) {
      s = extent - 1;
      f = 0;
    }
    const hi = clip(s + 1);
    s = clip(s);
    const wLo = roundHalfEven(Math.fround(1 - f) * COEF_SCALE);
    const wHi = roundHalfEven(f * COEF_SCALE);
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

/** Where each model channel sits in the source pixels, and the normalisation of each plane. */
function channelPlan(image: PixelImage, input: InputSpec): { from: [number, number, number]; luts: [Float32Array, Float32Array, Float32Array] } {
  // Plane p of the output holds model channel p; find where that channel sits in the source.
  const swap = image.order !== input.channelOrder;
  const from: [number, number, number] = swap ? [2, 1, 0] : [0, 1, 2];
  // (v - mean) * scale for every 8-bit value, per output plane.
  const lut = (c: number) => Float32Array.from({ length: 256 }, (_, v) => (v - input.mean[c]!) * input.scale);
  return { from, luts: [lut(0), lut(1), lut(2)] };
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
  if (extent.width === 2 * dw && extent.height === 2 * dh) return areaHalve(image, input, out, offset);
  const xs = axisTaps(extent.width, sw, dw, 'x');
  const ys = axisTaps(extent.height, sh, dh, 'y');
  // Byte offsets of the horizontal taps, per destination column.
  const xLo = Int32Array.from(xs.lo, (x) => x * 3);
  const xHi = Int32Array.from(xs.hi, (x) => x * 3);
  const { from, luts } = channelPlan(image, input);
  const [src0, src1, src2] = from;
  const [lut0, lut1, lut2] = luts;
  const plane = dw * dh;
  const rowLength = dw * 3;
  // Horizontally resized source rows, cached: consecutive output rows share source rows.
  const rows = [new Int32Array(rowLength), new Int32Array(rowLength)];
  const rowOf = [-1, -1];
  let next = 0;
  const horizontal = (y: number): Int32Array => {
    const cached = rowOf.indexOf(y);
    if (cached >= 0) return rows[cached]!;
    const slot = next;
    next ^= 1;
    const row = rows[slot]!;
    rowOf[slot] = y;
    const base = y * sw * 3;
    for (let dx = 0, o = 0; dx < dw; dx++, o += 3) {
      const a = base + xLo[dx]!;
      const b = base + xHi[dx]!;
      const wa = xs.wLo[dx]!;
      const wb = xs.wHi[dx]!;
      row[o] = data[a + src0]! * wa + data[b + src0]! * wb;
      row[o + 1] = data[a + src1]! * wa + data[b + src1]! * wb;
      row[o + 2] = data[a + src2]! * wa + data[b + src2]! * wb;
    }
    return row;
  };
  for (let dy = 0; dy < dh; dy++) {
    // A padded row contributes nothing: its weight is 0, whichever row it reads.
    const top = horizontal(ys.lo[dy]!);
    const bottom = horizontal(ys.hi[dy]!);
    const wt = ys.wLo[dy]!;
    const wb = ys.wHi[dy]!;
    let o = offset + dy * dw;
    // The sum never exceeds 2 x 1020, so neither OpenCV's int16 add nor its final pack saturates.
    for (let i = 0; i < rowLength; i += 3, o++) {
      out[o] = lut0[((((top[i]! >> 4) * wt) >> 16) + (((bottom[i]! >> 4) * wb) >> 16) + 2) >> 2]!;
      out[o + plane] = lut1[((((top[i + 1]! >> 4) * wt) >> 16) + (((bottom[i + 1]! >> 4) * wb) >> 16) + 2) >> 2]!;
      out[o + 2 * plane] = lut2[((((top[i + 2]! >> 4) * wt) >> 16) + (((bottom[i + 2]! >> 4) * wb) >> 16) + 2) >> 2]!;
    }
  }
}

/** INTER_AREA for an exact 2x downscale (what INTER_LINEAR becomes then): 2x2 means, halves up. */
function areaHalve(image: PixelImage, input: InputSpec, out: Float32Array, offset: number): void {
  const { width: dw, height: dh } = input;
  const { data, width: sw, height: sh } = image;
  const { from, luts } = channelPlan(image, input);
  const plane = dw * dh;
  const rowBytes = sw * 3;
  // Padding (letterbox) reads as 0.
  const at = (x: number, y: number, c: number): number => (x < sw && y < sh ? data[y * rowBytes + x * 3 + c]! : 0);
  for (let dy = 0; dy < dh; dy++) {
    for (let dx = 0; dx < dw; dx++) {
      const o = offset + dy * dw + dx;
      const x = 2 * dx;
      const y = 2 * dy;
      for (let k = 0; k < 3; k++) {
        const c = from[k]!;
        out[o + k * plane] = luts[k]![(at(x, y, c) + at(x + 1, y, c) + at(x, y + 1, c) + at(x + 1, y + 1, c) + 2) >> 2]!;
      }
    }
  }
}
