// Image -> network input, in one pass over typed arrays: bilinear resize with OpenCV's
// INTER_LINEAR semantics (half-pixel centres, no antialiasing on downscale, edge clamp, result
// rounded to 8 bits as cv2.resize on a uint8 image does), then (x - mean) * scale in the
// model's channel order, written planar (NCHW) straight into the batch tensor.
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
 * Writes one image into `out` at `offset` (3 x height x width floats), warped to the input size.
 */
export function preprocessInto(image: PixelImage, input: InputSpec, out: Float32Array, offset: number): void {
  const { width: dw, height: dh } = input;
  const { data, width: sw, height: sh } = image;
  if (data.length !== sw * sh * 3) throw new RangeError(`image data has ${data.length} bytes, expected ${sw * sh * 3}`);
  if (out.length < offset + 3 * dw * dh) throw new RangeError('output tensor too small');
  const xs = axisTaps(sw, dw);
  const ys = axisTaps(sh, dh);
  // Plane p of the output holds model channel p; find where that channel sits in the source.
  const sameOrder = image.order === input.channelOrder;
  const srcChannel = sameOrder ? [0, 1, 2] : [2, 1, 0];
  const plane = dw * dh;
  const [m0, m1, m2] = input.mean;
  const scale = input.scale;
  const c0 = srcChannel[0];
  const c1 = srcChannel[1];
  const c2 = srcChannel[2];
  const rowStride = sw * 3;
  for (let dy = 0; dy < dh; dy++) {
    const fy = ys.frac[dy];
    const gy = 1 - fy;
    const row0 = ys.lo[dy] * rowStride;
    const row1 = ys.hi[dy] * rowStride;
    let o = offset + dy * dw;
    for (let dx = 0; dx < dw; dx++, o++) {
      const fx = xs.frac[dx];
      const gx = 1 - fx;
      const a = row0 + xs.lo[dx] * 3;
      const b = row0 + xs.hi[dx] * 3;
      const c = row1 + xs.lo[dx] * 3;
      const d = row1 + xs.hi[dx] * 3;
      const w00 = gx * gy;
      const w01 = fx * gy;
      const w10 = gx * fy;
      const w11 = fx * fy;
      const v0 = Math.round(data[a + c0] * w00 + data[b + c0] * w01 + data[c + c0] * w10 + data[d + c0] * w11);
      const v1 = Math.round(data[a + c1] * w00 + data[b + c1] * w01 + data[c + c1] * w10 + data[d + c1] * w11);
      const v2 = Math.round(data[a + c2] * w00 + data[b + c2] * w01 + data[c + c2] * w10 + data[d + c2] * w11);
      out[o] = (v0 - m0) * scale;
      out[o + plane] = (v1 - m1) * scale;
      out[o + 2 * plane] = (v2 - m2) * scale;
    }
  }
}
