// How far INT8 detections are from fp32 ones, through the detector's whole pipeline (decode,
// preprocessing, session, decode + NMS). A reference is an fp32 detection scored >= minScore; it is
// found when an INT8 detection of its class overlaps it by IoU >= minIou with a score within
// scoreTolerance. An extra is an INT8 detection >= minScore that matches no fp32 detection so.
import type { Detection } from '@edge-ssd/ssd-core';
import { SsdPipeline } from '@edge-ssd/ssd-pipeline';
import type { NamedImage } from './images';

export interface AgreementCriteria {
  minScore: number;
  minIou: number;
  scoreTolerance: number;
}

export const DEFAULT_CRITERIA: AgreementCriteria = { minScore: 0.5, minIou: 0.85, scoreTolerance: 0.05 };

interface ImageAgreement {
  file: string;
  references: number;
  found: number;
  extras: number;
  /** Over the references: the smallest IoU and largest |score difference| of their best match (same class, highest IoU). */
  minIou: number;
  maxScoreDelta: number;
}

export interface Agreement {
  criteria: AgreementCriteria;
  images: ImageAgreement[];
  references: number;
  found: number;
  extras: number;
  minIou: number;
  maxScoreDelta: number;
  /** found / (references + extras); 1 when both are 0. */
  ratio: number;
}

export function iou(a: Detection, b: Detection): number {
  const w = Math.min(a.xmax, b.xmax) - Math.max(a.xmin, b.xmin);
  const h = Math.min(a.ymax, b.ymax) - Math.max(a.ymin, b.ymin);
  if (w <= 0 || h <= 0) return 0;
  const inter = w * h;
  const union = (a.xmax - a.xmin) * (a.ymax - a.ymin) + (b.xmax - b.xmin) * (b.ymax - b.ymin) - inter;
  return union > 0 ? inter / union : 0;
}

/** Index of the candidate of `ref`'s class with the highest IoU, among those not taken. */
function bestMatch(ref: Detection, candidates: readonly Detection[], taken: ReadonlySet<number>, accept: (ref: Detection, c: Detection) => boolean): number {
  let best = -1;
  let bestIou = -1;
  candidates.forEach((c, i) => {
    if (taken.has(i) || c.classId !== ref.classId || !accept(ref, c)) return;
    const v = iou(ref, c);
    if (v > bestIou) {
      best = i;
      bestIou = v;
    }
  });
  return best;
}

/** Compares one image's detections (both lists run with a score threshold below minScore - scoreTolerance). */
export function compareDetections(file: string, fp32: readonly Detection[], int8: readonly Detection[], c: AgreementCriteria = DEFAULT_CRITERIA): ImageAgreement {
  const within = (a: Detection, b: Detection) => iou(a, b) >= c.minIou && Math.abs(a.score - b.score) <= c.scoreTolerance;
  const references = fp32.filter((d) => d.score >= c.minScore).sort((a, b) => b.score - a.score);
  const taken = new Set<number>();
  let found = 0;
  let minIou = 1;
  let maxScoreDelta = 0;
  for (const ref of references) {
    const closest = bestMatch(ref, int8, new Set(), () => true);
    minIou = Math.min(minIou, closest < 0 ? 0 : iou(ref, int8[closest]));
    maxScoreDelta = Math.max(maxScoreDelta, closest < 0 ? ref.score : Math.abs(ref.score - int8[closest].score));
    const match = bestMatch(ref, int8, taken, within);
    if (match >= 0) {
      taken.add(match);
      found++;
    }
  }
  const extras = int8.filter((d) => d.score >= c.minScore && !fp32.some((f) => f.classId === d.classId && within(f, d))).length;
  return { file, references: references.length, found, extras, minIou, maxScoreDelta };
}

export function summarise(images: ImageAgreement[], criteria: AgreementCriteria): Agreement {
  const sum = (f: (i: ImageAgreement) => number) => images.reduce((a, i) => a + f(i), 0);
  const references = sum((i) => i.references);
  const found = sum((i) => i.found);
  const extras = sum((i) => i.extras);
  const scored = images.filter((i) => i.references > 0);
  return {
    criteria,
    images,
    references,
    found,
    extras,
    minIou: scored.reduce((a, i) => Math.min(a, i.minIou), 1),
    maxScoreDelta: scored.reduce((a, i) => Math.max(a, i.maxScoreDelta), 0),
    ratio: references + extras === 0 ? 1 : found / (references + extras),
  };
}

/** Runs both models over `images` (one thread, batch 1) and compares their detections per image. */
export async function measureAgreement(fp32Path: string, int8Path: string, images: readonly NamedImage[], criteria: AgreementCriteria = DEFAULT_CRITERIA): Promise<Agreement> {
  const fp32 = await SsdPipeline.load(fp32Path);
  const int8 = await SsdPipeline.load(int8Path);
  try {
    // Low enough that a reference's INT8 twin, up to scoreTolerance below it, is still returned.
    const scoreThreshold = Math.min(fp32.model.spec.nms.scoreThreshold, criteria.minScore - criteria.scoreTolerance) - 1e-6;
    const results: ImageAgreement[] = [];
    for (const image of images) {
      const source = [{ kind: 'encoded' as const, bytes: image.bytes }];
      const [a] = await fp32.detect(source, { scoreThreshold });
      const [b] = await int8.detect(source, { scoreThreshold });
      results.push(compareDetections(image.file, a!, b!, criteria));
    }
    return summarise(results, criteria);
  } finally {
    await fp32.release();
    await int8.release();
  }
}
