// Box decoding, Caffe-SSD's DecodeBBox. Caffe evaluates these expressions on `float` values and
// stores float results, so every float rounding is reproduced with `f32`: the decoded boxes then
// equal Caffe's bit for bit (up to the last-ulp behaviour of the platform's exp), and the NMS that
// follows sees the same IoUs as Caffe, including on threshold knife edges.

import type { CodeType } from './spec';
import type { PriorTable } from './priors';

const f32 = Math.fround;

/**
 * Decodes the loc prediction of prior `p` (4 numbers at `loc[locOffset + 4p]`) into
 * `out[outOffset .. outOffset + 4)` as (xmin, ymin, xmax, ymax), optionally clipped to [0, 1].
 * Returns Caffe's cached box size: 0 for an inverted box (xmax < xmin or ymax < ymin), NaN when a
 * coordinate is NaN, otherwise width * height in float.
 */
export function decodeBox(
  loc: Float32Array,
  locOffset: number,
  priors: PriorTable,
  p: number,
  codeType: CodeType,
  varianceEncodedInTarget: boolean,
  clip: boolean,
  out: Float32Array,
  outOffset: number,
): number {
  const b = priors.boxes;
  const v = priors.variances;
  const q = p * 4;
  const l = locOffset + q;
  const pxmin = b[q], pymin = b[q + 1], pxmax = b[q + 2], pymax = b[q + 3];
  const tx = loc[l], ty = loc[l + 1], tw = loc[l + 2], th = loc[l + 3];
  let xmin: number, ymin: number, xmax: number, ymax: number;
  if (codeType === 'CENTER_SIZE') {
    const pw = f32(pxmax - pxmin);
    const ph = f32(pymax - pymin);
    const pcx = f32(f32(pxmin + pxmax) / 2);
    const pcy = f32(f32(pymin + pymax) / 2);
    let cx: number, cy: number, w: number, h: number;
    if (varianceEncodedInTarget) {
      cx = f32(f32(tx * pw) + pcx);
      cy = f32(f32(ty * ph) + pcy);
      w = f32(Math.exp(tw) * pw);
      h = f32(Math.exp(th) * ph);
    } else {
      cx = f32(f32(f32(v[q] * tx) * pw) + pcx);
      cy = f32(f32(f32(v[q + 1] * ty) * ph) + pcy);
      // Caffe calls the double exp on a float argument and rounds the product once.
      w = f32(Math.exp(f32(v[q + 2] * tw)) * pw);
      h = f32(Math.exp(f32(v[q + 3] * th)) * ph);
    }
    xmin = f32(cx - w / 2);
    ymin = f32(cy - h / 2);
    xmax = f32(cx + w / 2);
    ymax = f32(cy + h / 2);
  } else if (codeType === 'CORNER') {
    if (varianceEncodedInTarget) {
      xmin = f32(pxmin + tx);
      ymin = f32(pymin + ty);
      xmax = f32(pxmax + tw);
      ymax = f32(pymax + th);
    } else {
      xmin = f32(pxmin + f32(v[q] * tx));
      ymin = f32(pymin + f32(v[q + 1] * ty));
      xmax = f32(pxmax + f32(v[q + 2] * tw));
      ymax = f32(pymax + f32(v[q + 3] * th));
    }
  } else {
    const pw = f32(pxmax - pxmin);
    const ph = f32(pymax - pymin);
    if (varianceEncodedInTarget) {
      xmin = f32(pxmin + f32(tx * pw));
      ymin = f32(pymin + f32(ty * ph));
      xmax = f32(pxmax + f32(tw * pw));
      ymax = f32(pymax + f32(th * ph));
    } else {
      xmin = f32(pxmin + f32(f32(v[q] * tx) * pw));
      ymin = f32(pymin + f32(f32(v[q + 1] * ty) * ph));
      xmax = f32(pxmax + f32(f32(v[q + 2] * tw) * pw));
      ymax = f32(pymax + f32(f32(v[q + 3] * th) * ph));
    }
  }
  if (clip) {
    // std::max(std::min(x, 1.f), 0.f): NaN passes through, as in Caffe's ClipBBox.
    xmin = clamp01(xmin);
    ymin = clamp01(ymin);
    xmax = clamp01(xmax);
    ymax = clamp01(ymax);
  }
  out[outOffset] = xmin;
  out[outOffset + 1] = ymin;
  out[outOffset + 2] = xmax;
  out[outOffset + 3] = ymax;
  return boxSize(xmin, ymin, xmax, ymax);
}

function clamp01(x: number): number {
  const hi = 1 < x ? 1 : x;
  return hi < 0 ? 0 : hi;
}

/** Caffe's normalised BBoxSize: 0 for inverted boxes, float width * height otherwise. */
export function boxSize(xmin: number, ymin: number, xmax: number, ymax: number): number {
  if (xmax < xmin || ymax < ymin) return 0;
  return f32(f32(xmax - xmin) * f32(ymax - ymin));
}

/**
 * Decodes all priors of one image: `loc` holds 4 numbers per prior starting at `locOffset`
 * ([N, P, 4] row-major, image n at n*P*4). Writes 4 per prior into `out` and, when given, the
 * per-box size (as used by IoU) into `sizes`. No clipping unless `clip`, like Caffe's
 * DetectionOutput, which never clips.
 */
export function decodeBoxes(
  loc: Float32Array,
  locOffset: number,
  priors: PriorTable,
  codeType: CodeType,
  varianceEncodedInTarget: boolean,
  out: Float32Array,
  clip = false,
  sizes?: Float32Array,
): void {
  if (locOffset < 0 || locOffset + priors.count * 4 > loc.length) {
    throw new RangeError(`decodeBoxes: loc needs ${priors.count * 4} values from offset ${locOffset}, has ${loc.length}`);
  }
  if (out.length < priors.count * 4) throw new RangeError(`decodeBoxes: out needs ${priors.count * 4} values, has ${out.length}`);
  if (sizes && sizes.length < priors.count) throw new RangeError(`decodeBoxes: sizes needs ${priors.count} values, has ${sizes.length}`);
  for (let p = 0; p < priors.count; p++) {
    const size = decodeBox(loc, locOffset, priors, p, codeType, varianceEncodedInTarget, clip, out, p * 4);
    if (sizes) sizes[p] = size;
  }
}
