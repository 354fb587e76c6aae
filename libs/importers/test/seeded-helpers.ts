// Test helpers of the seeded model: smooth and noisy input images, and a compact SSD post-processor
// (priors, CENTER_SIZE decode, per-class greedy NMS) used only to count detections. The detector's
// real post-processing lives in ssd-core; this one is deliberately independent of it.
import { MOBILENET_SSD_VOC_300 } from '@edge-ssd/ssd-core';
import { Prng } from '@edge-ssd/prng';

/** A smooth colour gradient over the image, normalised to [-1, 1] (NCHW, batch 1). */
export function gradientImage(size = 300): Float32Array {
  const out = new Float32Array(3 * size * size);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const u = x / (size - 1);
      const v = y / (size - 1);
      out[y * size + x] = 2 * u - 1;
      out[size * size + y * size + x] = 2 * v - 1;
      out[2 * size * size + y * size + x] = u + v - 1;
    }
  }
  return out;
}

/** Uniform noise in [-1, 1]. */
export function noiseImage(seed: number, size = 300): Float32Array {
  const rng = new Prng(seed);
  return Float32Array.from({ length: 3 * size * size }, () => rng.uniform(-1, 1));
}

type Box = [number, number, number, number];

/** Caffe PriorBox for the spec's heads (300x300, no step/img_size set, clip false). */
function priorBoxes(): { boxes: Box[]; variances: number[] } {
  const spec = MOBILENET_SSD_VOC_300;
  if (spec.priors.kind !== 'priorbox') throw new Error('expected priorbox priors');
  const boxes: Box[] = [];
  const img = spec.input.width;
  let variances: number[] = [0.1];
  for (const head of spec.priors.heads) {
    const [fh, fw] = head.featureMap;
    const ratios = [1];
    for (const ar of head.aspectRatios ?? []) {
      if (ratios.some((r) => Math.abs(r - ar) < 1e-6)) continue;
      ratios.push(ar);
      if (head.flip ?? true) ratios.push(1 / ar);
    }
    variances = head.variance ?? [0.1];
    const offset = head.offset ?? 0.5;
    for (let h = 0; h < fh; h++) {
      for (let w = 0; w < fw; w++) {
        const cx = (w + offset) * (img / fw);
        const cy = (h + offset) * (img / fh);
        const sizes: [number, number][] = [];
        head.minSizes.forEach((min, i) => {
          sizes.push([min, min]);
          const max = head.maxSizes?.[i];
          if (max !== undefined) sizes.push([Math.sqrt(min * max), Math.sqrt(min * max)]);
          for (const r of ratios.slice(1)) sizes.push([min * Math.sqrt(r), min / Math.sqrt(r)]);
        });
        for (const [bw, bh] of sizes) boxes.push([(cx - bw / 2) / img, (cy - bh / 2) / img, (cx + bw / 2) / img, (cy + bh / 2) / img]);
      }
    }
  }
  return { boxes, variances };
}

function iou(a: Box, b: Box): number {
  const iw = Math.min(a[2], b[2]) - Math.max(a[0], b[0]);
  const ih = Math.min(a[3], b[3]) - Math.max(a[1], b[1]);
  if (iw <= 0 || ih <= 0) return 0;
  const inter = iw * ih;
  return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter);
}

export interface DetectionCount {
  /** (prior, non-background class) pairs scoring above the threshold. */
  candidates: number;
  /** Detections after per-class NMS and keep_top_k. */
  detections: number;
  classes: number[];
}

/** DetectionOutput semantics with the spec's NMS parameters (batch item 0). */
export function countDetections(loc: Float32Array, conf: Float32Array, numClasses = 21): DetectionCount {
  const { boxes: priors, variances: v } = priorBoxes();
  const { scoreThreshold, iouThreshold, topK, keepTopK } = MOBILENET_SSD_VOC_300.nms;
  const decode = (i: number): Box => {
    const p = priors[i];
    const pw = p[2] - p[0];
    const ph = p[3] - p[1];
    const cx = v[0] * loc[i * 4] * pw + (p[0] + p[2]) / 2;
    const cy = v[1] * loc[i * 4 + 1] * ph + (p[1] + p[3]) / 2;
    const w = Math.exp(v[2] * loc[i * 4 + 2]) * pw;
    const h = Math.exp(v[3] * loc[i * 4 + 3]) * ph;
    return [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2];
  };
  let candidates = 0;
  const kept: { score: number; cls: number }[] = [];
  for (let c = 1; c < numClasses; c++) {
    const cand: [number, number][] = [];
    for (let i = 0; i < priors.length; i++) {
      const s = conf[i * numClasses + c];
      if (s > scoreThreshold) cand.push([s, i]);
    }
    candidates += cand.length;
    cand.sort((a, b) => b[0] - a[0] || a[1] - b[1]);
    const chosen: Box[] = [];
    for (const [s, i] of cand.slice(0, topK)) {
      const box = decode(i);
      if (chosen.every((k) => iou(k, box) <= iouThreshold)) {
        chosen.push(box);
        kept.push({ score: s, cls: c });
      }
    }
  }
  kept.sort((a, b) => b.score - a.score);
  const final = keepTopK > -1 ? kept.slice(0, keepTopK) : kept;
  return { candidates, detections: final.length, classes: [...new Set(final.map((d) => d.cls))].sort((a, b) => a - b) };
}
