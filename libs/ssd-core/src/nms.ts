// Per-class non-maximum suppression, Caffe-SSD's ApplyNMSFast, on typed arrays.
//
// Semantics (all from weiliu89/caffe@ssd bbox_util.cpp):
// - Candidates are scores strictly above the score threshold. NaN is never above anything, so NaN
//   scores are never selected.
// - Order is score descending with ties kept in prior-index order (Caffe's CPU path uses
//   std::stable_sort on candidates gathered in index order); then truncate to topK if topK > -1
//   (topK = 0 keeps nothing, like Caffe).
// - Greedy pass: a candidate is kept when its IoU with every kept box is <= the current threshold;
//   after each keep, if eta < 1 and the threshold is > 0.5, the threshold is multiplied by eta.
// - Thresholds, eta and IoU are float32 as in Caffe, so a score of 0.3f against threshold 0.3 is
//   *not* selected (0.3f > 0.3f is false) and an IoU equal to the float threshold is kept.
// - IoU is the normalised JaccardOverlap (no +1). Disjoint or touching boxes give 0. A zero-area or
//   inverted box (xmax < xmin or ymax < ymin) has an empty intersection with everything, so its
//   IoU is always 0: it never suppresses and is never suppressed. A box with a NaN coordinate can
//   yield a NaN IoU, which fails `<=` and suppresses, exactly as in Caffe.

const f32 = Math.fround;

/** Largest prior count the sort keys can address (21 bits of index beside 32 bits of score). */
export const MAX_SORTABLE_PRIORS = 2 ** 21 - 1;
const INDEX_SPAN = 2 ** 21;

/**
 * Caffe's float JaccardOverlap(bbox1 = boxes[a], bbox2 = boxes[b]) with cached sizes. Argument
 * order matters only for NaN coordinates (std::max/std::min are not symmetric in NaN).
 */
export function jaccardOverlap(boxes: Float32Array, sizes: Float32Array, a: number, b: number): number {
  const ia = a * 4;
  const ib = b * 4;
  const axmin = boxes[ia], aymin = boxes[ia + 1], axmax = boxes[ia + 2], aymax = boxes[ia + 3];
  const bxmin = boxes[ib], bymin = boxes[ib + 1], bxmax = boxes[ib + 2], bymax = boxes[ib + 3];
  if (bxmin > axmax || bxmax < axmin || bymin > aymax || bymax < aymin) return 0;
  // std::max(x, y) is (x < y ? y : x) and std::min(x, y) is (y < x ? y : x).
  const iw = f32((bxmax < axmax ? bxmax : axmax) - (axmin < bxmin ? bxmin : axmin));
  const ih = f32((bymax < aymax ? bymax : aymax) - (aymin < bymin ? bymin : aymin));
  if (!(iw > 0 && ih > 0)) return 0;
  const inter = f32(iw * ih);
  // BBoxSize is 0 for inverted boxes; sizes[] already holds that rule.
  return f32(inter / f32(f32(sizes[a] + sizes[b]) - inter));
}

/**
 * Selects the candidates of one class: indices p in [0, count) whose score
 * `scores[offset + p * stride]` is strictly above `scoreThreshold` (as float32), ordered by score
 * descending then p ascending, truncated to topK when topK > -1. Writes them to `order` and
 * returns how many. `scoreBits` must be a Uint32Array view of the same memory as `scores`;
 * `keys` is scratch of at least `count` entries. count must be <= MAX_SORTABLE_PRIORS.
 */
export function selectCandidates(
  scores: Float32Array,
  scoreBits: Uint32Array,
  offset: number,
  stride: number,
  count: number,
  scoreThreshold: number,
  topK: number,
  keys: Float64Array,
  order: Int32Array,
): number {
  const threshold = f32(scoreThreshold);
  let n = 0;
  for (let p = 0, i = offset; p < count; p++, i += stride) {
    if (scores[i] > threshold) {
      // Float bits mapped to an order-preserving uint32 (with -0 folded onto +0, as they compare
      // equal), shifted above a reversed index, so ascending numeric order of keys is
      // (score ascending, index descending) and reading backwards gives Caffe's stable order.
      const bits = scoreBits[i] === 0x80000000 ? 0 : scoreBits[i];
      const ordered = bits >= 0x80000000 ? ~bits >>> 0 : bits + 0x80000000;
      keys[n++] = ordered * INDEX_SPAN + (MAX_SORTABLE_PRIORS - p);
    }
  }
  if (n === 0) return 0;
  if (n <= 24) insertionSort(keys, n);
  else keys.subarray(0, n).sort();
  const m = topK > -1 && topK < n ? topK : n;
  for (let j = 0; j < m; j++) order[j] = MAX_SORTABLE_PRIORS - (keys[n - 1 - j] % INDEX_SPAN);
  return m;
}

function insertionSort(a: Float64Array, n: number): void {
  for (let i = 1; i < n; i++) {
    const v = a[i];
    let j = i - 1;
    while (j >= 0 && a[j] > v) {
      a[j + 1] = a[j];
      j--;
    }
    a[j + 1] = v;
  }
}

/**
 * Greedy pass over `order[0..m)` (already sorted, see selectCandidates) on decoded boxes. Kept
 * indices are written to `kept` from `keptOffset`, in keep order; returns how many were kept.
 */
export function greedyNms(
  order: Int32Array,
  m: number,
  boxes: Float32Array,
  sizes: Float32Array,
  iouThreshold: number,
  eta: number,
  kept: Int32Array,
  keptOffset: number,
): number {
  let threshold = f32(iouThreshold);
  const eta32 = f32(eta);
  let k = keptOffset;
  for (let i = 0; i < m; i++) {
    const a = order[i];
    let keep = true;
    for (let j = keptOffset; j < k; j++) {
      // `!(iou <= t)` rather than `iou > t` so a NaN IoU suppresses, as Caffe's `keep = overlap <= t`.
      if (!(jaccardOverlap(boxes, sizes, a, kept[j]) <= threshold)) {
        keep = false;
        break;
      }
    }
    if (keep) {
      kept[k++] = a;
      if (eta32 < 1 && threshold > 0.5) threshold = f32(threshold * eta32);
    }
  }
  return k - keptOffset;
}

export interface NmsOptions {
  /** Keep scores strictly above this. */
  scoreThreshold: number;
  /** Suppress when IoU is strictly above this. */
  iouThreshold: number;
  /** Candidate cap before NMS; -1 keeps all. */
  topK: number;
  /** Adaptive factor; 1 = off. */
  eta: number;
}

/**
 * ApplyNMSFast for one class on already decoded boxes (4 per box) and their `sizes` (Caffe's
 * BBoxSize, see decodeBox/boxSize); scores of box p at `scores[scoreOffset + p * scoreStride]`.
 * Returns kept box indices in descending score order. Allocates scratch; the postprocessor uses
 * selectCandidates/greedyNms with reused buffers instead.
 */
export function applyNmsFast(
  boxes: Float32Array,
  sizes: Float32Array,
  scores: Float32Array,
  options: NmsOptions,
  scoreOffset = 0,
  scoreStride = 1,
): Int32Array {
  const count = sizes.length;
  if (boxes.length < count * 4) throw new RangeError(`applyNmsFast: ${count} sizes need ${count * 4} box values, got ${boxes.length}`);
  if (count > MAX_SORTABLE_PRIORS) throw new RangeError(`applyNmsFast: at most ${MAX_SORTABLE_PRIORS} boxes`);
  if (count > 0 && scoreOffset + (count - 1) * scoreStride >= scores.length) {
    throw new RangeError(`applyNmsFast: scores too short for ${count} boxes at stride ${scoreStride}`);
  }
  const bits = new Uint32Array(scores.buffer, scores.byteOffset, scores.length);
  const order = new Int32Array(count);
  const m = selectCandidates(scores, bits, scoreOffset, scoreStride, count, options.scoreThreshold, options.topK, new Float64Array(count), order);
  const kept = new Int32Array(m);
  const k = greedyNms(order, m, boxes, sizes, options.iouThreshold, options.eta, kept, 0);
  return kept.slice(0, k);
}
