// Prior (default/anchor) boxes, reproducing Caffe-SSD's PriorBox layer bit for bit where it
// matters. Caffe keeps centres, steps, ratios and box sizes in `float` variables and evaluates
// only the final coordinate expression in double before storing it as float; `f32` marks each
// place where Caffe rounds to float, so the table equals what the Caffe net would feed to
// DetectionOutput (and OpenCV agrees to ~1e-7, it rounds in slightly different places).

import type { PriorBoxHead, SsdSpec } from './spec';

const f32 = Math.fround;

/** Priors in DetectionOutput's layout: 4 numbers per prior, prior i at [4i, 4i+4). */
export interface PriorTable {
  count: number;
  /** Normalised (xmin, ymin, xmax, ymax). */
  boxes: Float32Array;
  /** Per-prior (v0, v1, v2, v3), always 4 even when the spec gives one shared value. */
  variances: Float32Array;
}

/** Caffe's default when a PriorBox layer lists no variance. */
const DEFAULT_VARIANCE = 0.1;

/**
 * The expanded ratio list of a head: [1], then each configured ratio unless it is within 1e-6 of
 * one already listed (including earlier flips), followed by its reciprocal when `flip`.
 * Values are float32, as Caffe stores them.
 */
export function expandAspectRatios(head: Pick<PriorBoxHead, 'aspectRatios' | 'flip'>): number[] {
  const flip = head.flip ?? true;
  const ratios = [1];
  for (const raw of head.aspectRatios ?? []) {
    const ar = f32(raw);
    if (ratios.some((r) => Math.abs(ar - r) < 1e-6)) continue;
    ratios.push(ar);
    if (flip) ratios.push(f32(1 / ar));
  }
  return ratios;
}

/** Priors per feature-map location (Caffe's num_priors_). */
export function priorBoxHeadCount(head: PriorBoxHead): number {
  return expandAspectRatios(head).length * head.minSizes.length + (head.maxSizes?.length ?? 0);
}

/** Total prior count of a spec, without building the boxes. */
export function countPriors(spec: SsdSpec): number {
  const priors = spec.priors;
  if (priors.kind === 'table') return priors.boxes.length / 4;
  let total = 0;
  for (const head of priors.heads) total += head.featureMap[0] * head.featureMap[1] * priorBoxHeadCount(head);
  return total;
}

function clamp01(v: number): number {
  // std::min(std::max(v, 0), 1), which lets NaN through like Caffe.
  const lo = v < 0 ? 0 : v;
  return 1 < lo ? 1 : lo;
}

/** Writes one head's boxes and variances at prior index `start`; returns the next index. */
function emitHead(head: PriorBoxHead, spec: SsdSpec, boxes: Float32Array, variances: Float32Array, start: number): number {
  const [layerH, layerW] = head.featureMap;
  const imgW = head.imgSize ?? head.imgW ?? spec.input.width;
  const imgH = head.imgSize ?? head.imgH ?? spec.input.height;
  // Caffe's default step is img/fmap as a float, not the network stride (300/19, not 16).
  const stepW = f32(head.step ?? head.stepW ?? imgW / layerW);
  const stepH = f32(head.step ?? head.stepH ?? imgH / layerH);
  const offset = f32(head.offset ?? 0.5);
  const ratios = expandAspectRatios(head);
  // Caffe reads min/max sizes into an int, truncating fractional sizes.
  const minSizes = head.minSizes.map((s) => Math.trunc(f32(s)));
  const maxSizes = (head.maxSizes ?? []).map((s) => Math.trunc(f32(s)));

  let o = start * 4;
  const put = (cx: number, cy: number, bw: number, bh: number): void => {
    boxes[o++] = (cx - bw / 2) / imgW;
    boxes[o++] = (cy - bh / 2) / imgH;
    boxes[o++] = (cx + bw / 2) / imgW;
    boxes[o++] = (cy + bh / 2) / imgH;
  };
  for (let h = 0; h < layerH; h++) {
    for (let w = 0; w < layerW; w++) {
      const cx = f32(f32(w + offset) * stepW);
      const cy = f32(f32(h + offset) * stepH);
      for (let s = 0; s < minSizes.length; s++) {
        const minSize = minSizes[s];
        put(cx, cy, minSize, minSize);
        if (maxSizes.length > 0) {
          const side = f32(Math.sqrt(minSize * maxSizes[s]));
          put(cx, cy, side, side);
        }
        for (const ar of ratios) {
          if (Math.abs(ar - 1) < 1e-6) continue;
          const root = f32(Math.sqrt(ar));
          put(cx, cy, f32(minSize * root), f32(minSize / root));
        }
      }
    }
  }
  const end = o / 4;
  if (head.clip ?? false) {
    for (let i = start * 4; i < o; i++) boxes[i] = clamp01(boxes[i]);
  }
  const variance = head.variance ?? [DEFAULT_VARIANCE];
  for (let i = start; i < end; i++) {
    for (let j = 0; j < 4; j++) variances[i * 4 + j] = variance.length === 1 ? variance[0] : variance[j];
  }
  return end;
}

/**
 * Builds the prior table of a (validated) spec: PriorBox heads concatenated in order, exactly as
 * the deploy net's `mbox_priorbox` Concat; table priors are copied (shared variances expanded).
 */
export function buildPriors(spec: SsdSpec): PriorTable {
  const count = countPriors(spec);
  const boxes = new Float32Array(count * 4);
  const variances = new Float32Array(count * 4);
  const priors = spec.priors;
  if (priors.kind === 'table') {
    boxes.set(priors.boxes);
    if (priors.variances.length === 4) {
      for (let i = 0; i < count * 4; i++) variances[i] = priors.variances[i % 4];
    } else {
      variances.set(priors.variances);
    }
  } else {
    let next = 0;
    for (const head of priors.heads) next = emitHead(head, spec, boxes, variances, next);
  }
  return { count, boxes, variances };
}
