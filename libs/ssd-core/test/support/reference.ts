// Deliberately slow, plain reference implementations written straight from
// /work/shared/reference/mobilenet-ssd.md (§2 PriorBox, §3 DetectionOutput), with objects and
// nested loops, sharing no code with src/. The fast paths are compared against these.
//
// DetectionOutput is evaluated in float32 (Math.fround) wherever Caffe's code uses `float`, so the
// comparison can be exact; PriorBox is evaluated in plain double and compared to 1e-6.

import type { CodeType, PriorBoxHead, SsdSpec } from '../../src/spec';

const f = Math.fround;

export interface RefBox {
  xmin: number;
  ymin: number;
  xmax: number;
  ymax: number;
}

export interface RefDetection {
  classId: number;
  label: string;
  score: number;
  xmin: number;
  ymin: number;
  xmax: number;
  ymax: number;
}

export interface RefOptions {
  scoreThreshold: number;
  iouThreshold: number;
  topK: number;
  keepTopK: number;
  eta: number;
  classIds?: readonly number[];
}

// ---------- PriorBox (§2.2), double precision ----------

export function refPriors(spec: SsdSpec): { boxes: RefBox[]; variances: number[][] } {
  const boxes: RefBox[] = [];
  const variances: number[][] = [];
  if (spec.priors.kind !== 'priorbox') throw new Error('refPriors: priorbox specs only');
  for (const head of spec.priors.heads) {
    const ratios = refRatios(head);
    const imgW = head.imgSize ?? head.imgW ?? spec.input.width;
    const imgH = head.imgSize ?? head.imgH ?? spec.input.height;
    const fmH = head.featureMap[0];
    const fmW = head.featureMap[1];
    const stepW = head.step ?? head.stepW ?? imgW / fmW;
    const stepH = head.step ?? head.stepH ?? imgH / fmH;
    const offset = head.offset ?? 0.5;
    const variance = head.variance ?? [0.1];
    for (let h = 0; h < fmH; h++) {
      for (let w = 0; w < fmW; w++) {
        const cx = (w + offset) * stepW;
        const cy = (h + offset) * stepH;
        const cell: Array<[number, number]> = [];
        for (let s = 0; s < head.minSizes.length; s++) {
          const minSize = Math.trunc(head.minSizes[s]);
          cell.push([minSize, minSize]);
          if (head.maxSizes) {
            const side = Math.sqrt(minSize * Math.trunc(head.maxSizes[s]));
            cell.push([side, side]);
          }
          for (const r of ratios) {
            if (Math.abs(r - 1) < 1e-6) continue;
            cell.push([minSize * Math.sqrt(r), minSize / Math.sqrt(r)]);
          }
        }
        for (const [bw, bh] of cell) {
          let box: RefBox = {
            xmin: (cx - bw / 2) / imgW,
            ymin: (cy - bh / 2) / imgH,
            xmax: (cx + bw / 2) / imgW,
            ymax: (cy + bh / 2) / imgH,
          };
          if (head.clip) {
            const c = (v: number): number => Math.min(Math.max(v, 0), 1);
            box = { xmin: c(box.xmin), ymin: c(box.ymin), xmax: c(box.xmax), ymax: c(box.ymax) };
          }
          boxes.push(box);
          variances.push(variance.length === 1 ? [variance[0], variance[0], variance[0], variance[0]] : [...variance]);
        }
      }
    }
  }
  return { boxes, variances };
}

function refRatios(head: PriorBoxHead): number[] {
  const list = [1];
  for (const ar of head.aspectRatios ?? []) {
    let exists = false;
    for (const r of list) if (Math.abs(ar - r) < 1e-6) exists = true;
    if (exists) continue;
    list.push(ar);
    if (head.flip ?? true) list.push(1 / ar);
  }
  return list;
}

// ---------- DetectionOutput (§3.2, §3.3), float32 like Caffe ----------

interface DecodedBox extends RefBox {
  size: number;
}

function bboxSize(b: RefBox): number {
  if (b.xmax < b.xmin || b.ymax < b.ymin) return 0;
  return f(f(b.xmax - b.xmin) * f(b.ymax - b.ymin));
}

function refDecode(prior: RefBox, v: number[], t: number[], codeType: CodeType, encodedInTarget: boolean, clip: boolean): DecodedBox {
  const [v0, v1, v2, v3] = encodedInTarget ? [1, 1, 1, 1] : v;
  const [tx, ty, tw, th] = t;
  // With the variance encoded in the target Caffe leaves the factor out; multiplying by 1 is exact.
  let box: RefBox;
  if (codeType === 'CENTER_SIZE') {
    const pw = f(prior.xmax - prior.xmin);
    const ph = f(prior.ymax - prior.ymin);
    const pcx = f(f(prior.xmin + prior.xmax) / 2);
    const pcy = f(f(prior.ymin + prior.ymax) / 2);
    const cx = f(f(f(v0 * tx) * pw) + pcx);
    const cy = f(f(f(v1 * ty) * ph) + pcy);
    const w = f(Math.exp(f(v2 * tw)) * pw);
    const h = f(Math.exp(f(v3 * th)) * ph);
    box = { xmin: f(cx - w / 2), ymin: f(cy - h / 2), xmax: f(cx + w / 2), ymax: f(cy + h / 2) };
  } else if (codeType === 'CORNER') {
    box = {
      xmin: f(prior.xmin + f(v0 * tx)),
      ymin: f(prior.ymin + f(v1 * ty)),
      xmax: f(prior.xmax + f(v2 * tw)),
      ymax: f(prior.ymax + f(v3 * th)),
    };
  } else {
    const pw = f(prior.xmax - prior.xmin);
    const ph = f(prior.ymax - prior.ymin);
    box = {
      xmin: f(prior.xmin + f(f(v0 * tx) * pw)),
      ymin: f(prior.ymin + f(f(v1 * ty) * ph)),
      xmax: f(prior.xmax + f(f(v2 * tw) * pw)),
      ymax: f(prior.ymax + f(f(v3 * th) * ph)),
    };
  }
  if (clip) {
    const c = (x: number): number => {
      const lo = 1 < x ? 1 : x;
      return lo < 0 ? 0 : lo;
    };
    box = { xmin: c(box.xmin), ymin: c(box.ymin), xmax: c(box.xmax), ymax: c(box.ymax) };
  }
  return { ...box, size: bboxSize(box) };
}

// std::max / std::min exactly (their NaN behaviour is asymmetric).
const stdMax = (a: number, b: number): number => (a < b ? b : a);
const stdMin = (a: number, b: number): number => (b < a ? b : a);

function refJaccard(b1: DecodedBox, b2: DecodedBox): number {
  let inter: RefBox;
  if (b2.xmin > b1.xmax || b2.xmax < b1.xmin || b2.ymin > b1.ymax || b2.ymax < b1.ymin) {
    inter = { xmin: 0, ymin: 0, xmax: 0, ymax: 0 };
  } else {
    inter = {
      xmin: stdMax(b1.xmin, b2.xmin),
      ymin: stdMax(b1.ymin, b2.ymin),
      xmax: stdMin(b1.xmax, b2.xmax),
      ymax: stdMin(b1.ymax, b2.ymax),
    };
  }
  const iw = f(inter.xmax - inter.xmin);
  const ih = f(inter.ymax - inter.ymin);
  if (iw > 0 && ih > 0) {
    const isz = f(iw * ih);
    const s1 = b1.xmax < b1.xmin || b1.ymax < b1.ymin ? 0 : b1.size;
    const s2 = b2.xmax < b2.xmin || b2.ymax < b2.ymin ? 0 : b2.size;
    return f(isz / f(f(s1 + s2) - isz));
  }
  return 0;
}

export interface RefStats {
  candidates: number;
  suppressed: number;
  topKCuts: number;
  keepTopKCuts: number;
  tiedScoresKept: number;
  nanScores: number;
  degenerateKept: number;
  iouAtThreshold: number;
  etaChanges: number;
}

export function emptyStats(): RefStats {
  return { candidates: 0, suppressed: 0, topKCuts: 0, keepTopKCuts: 0, tiedScoresKept: 0, nanScores: 0, degenerateKept: 0, iouAtThreshold: 0, etaChanges: 0 };
}

function refApplyNmsFast(boxes: DecodedBox[], scores: number[], o: RefOptions, stats: RefStats): number[] {
  const list: Array<{ score: number; index: number }> = [];
  for (let i = 0; i < scores.length; i++) {
    if (Number.isNaN(scores[i])) stats.nanScores++;
    if (scores[i] > f(o.scoreThreshold)) list.push({ score: scores[i], index: i });
  }
  stats.candidates += list.length;
  // Array.prototype.sort is stable, like std::stable_sort.
  list.sort((a, b) => (a.score > b.score ? -1 : a.score < b.score ? 1 : 0));
  if (o.topK > -1 && o.topK < list.length) {
    list.length = o.topK;
    stats.topKCuts++;
  }
  let threshold = f(o.iouThreshold);
  const kept: number[] = [];
  for (const cand of list) {
    let keep = true;
    for (const k of kept) {
      if (!keep) break;
      const iou = refJaccard(boxes[cand.index], boxes[k]);
      if (iou === threshold && iou > 0) stats.iouAtThreshold++;
      keep = iou <= threshold;
    }
    if (keep) kept.push(cand.index);
    else stats.suppressed++;
    if (keep && f(o.eta) < 1 && threshold > 0.5) {
      threshold = f(threshold * f(o.eta));
      stats.etaChanges++;
    }
  }
  return kept;
}

/** DetectionOutput for a batch, returning rows sorted by score desc, class asc, prior asc. */
export function refDetect(
  spec: SsdSpec,
  priors: { boxes: Float32Array; variances: Float32Array; count: number },
  loc: Float32Array,
  conf: Float32Array,
  batch: number,
  o: RefOptions,
  stats: RefStats = emptyStats(),
): RefDetection[][] {
  const P = priors.count;
  const C = spec.labels.length;
  const priorBoxes: RefBox[] = [];
  const priorVars: number[][] = [];
  for (let p = 0; p < P; p++) {
    const b = Array.from(priors.boxes.slice(p * 4, p * 4 + 4));
    priorBoxes.push({ xmin: b[0], ymin: b[1], xmax: b[2], ymax: b[3] });
    priorVars.push(Array.from(priors.variances.slice(p * 4, p * 4 + 4)));
  }
  const out: RefDetection[][] = [];
  for (let n = 0; n < batch; n++) {
    const boxes: DecodedBox[] = [];
    for (let p = 0; p < P; p++) {
      const t = Array.from(loc.slice((n * P + p) * 4, (n * P + p) * 4 + 4));
      boxes.push(refDecode(priorBoxes[p], priorVars[p], t, spec.codeType, spec.varianceEncodedInTarget, spec.clipBoxes));
    }
    const all: Array<{ score: number; classId: number; index: number }> = [];
    for (let c = 0; c < C; c++) {
      if (c === spec.backgroundLabelId) continue;
      if (o.classIds && !o.classIds.includes(c)) continue;
      const scores: number[] = [];
      for (let p = 0; p < P; p++) scores.push(conf[(n * P + p) * C + c]);
      const kept = refApplyNmsFast(boxes, scores, o, stats);
      for (const index of kept) {
        all.push({ score: scores[index], classId: c, index });
        if (boxes[index].size === 0) stats.degenerateKept++;
      }
    }
    all.sort((a, b) => b.score - a.score || a.classId - b.classId || a.index - b.index);
    for (let i = 1; i < all.length; i++) if (all[i].score === all[i - 1].score) stats.tiedScoresKept++;
    if (o.keepTopK > -1 && all.length > o.keepTopK) {
      all.length = o.keepTopK;
      stats.keepTopKCuts++;
    }
    out.push(all.map(({ score, classId, index }) => ({
      classId,
      label: spec.labels[classId],
      score,
      xmin: boxes[index].xmin,
      ymin: boxes[index].ymin,
      xmax: boxes[index].xmax,
      ymax: boxes[index].ymax,
    })));
  }
  return out;
}
