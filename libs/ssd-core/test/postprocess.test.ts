import {
  MOBILENET_SSD_VOC_300,
  SsdPostprocessor,
  applyNmsFast,
  boxSize,
  buildPriors,
  decodeBox,
  decodeBoxes,
  jaccardOverlap,
  type CodeType,
  type DetectOptions,
  type Detection,
  type PriorBoxHead,
  type SsdSpec,
} from '../src/index';
import { syntheticOutputs } from '../src/testing';
import { Prng } from '@edge-ssd/prng';
import { emptyStats, refDetect, type RefOptions, type RefStats } from './support/reference';

const f32 = Math.fround;

// ---------- hand-made scenes ----------

/**
 * A spec whose decoded boxes are exactly the given boxes: every prior is the unit square and the
 * CORNER code with variance in target adds the loc offsets, exact for dyadic coordinates.
 */
function scene(boxes: number[][], classes = 3, backgroundLabelId = 0): { post: SsdPostprocessor; loc: Float32Array } {
  const spec: SsdSpec = {
    ...MOBILENET_SSD_VOC_300,
    labels: Array.from({ length: classes }, (_, c) => (c === backgroundLabelId ? 'background' : `class${c}`)),
    backgroundLabelId,
    priors: { kind: 'table', boxes: boxes.flatMap(() => [0, 0, 1, 1]), variances: [1, 1, 1, 1] },
    codeType: 'CORNER',
    varianceEncodedInTarget: true,
    nms: { scoreThreshold: 0.1, iouThreshold: 0.45, topK: -1, keepTopK: -1, eta: 1 },
  };
  const loc = new Float32Array(boxes.flatMap(([x0, y0, x1, y1]) => [x0, y0, x1 - 1, y1 - 1]));
  return { post: new SsdPostprocessor(spec), loc };
}

/** conf for one image from per-prior rows of class scores. */
function scores(rows: number[][]): Float32Array {
  return new Float32Array(rows.flat());
}

/** Compact view of detections: [classId, prior box as given, score]. */
function summary(dets: Detection[]): Array<[number, number[], number]> {
  return dets.map((d) => [d.classId, [d.xmin, d.ymin, d.xmax, d.ymax], d.score]);
}

describe('NMS semantics (hand-made scenes)', () => {
  const A = [0, 0, 1, 1];
  const HALF = [0, 0, 1, 0.5]; // IoU with A = 0.5 exactly
  const SIXTY = [0, 0, 1, 0.625]; // IoU with A = 0.625

  it('keeps a box whose IoU equals the threshold and suppresses it one float step below', () => {
    const { post, loc } = scene([A, HALF]);
    const conf = scores([[0, 0.9, 0], [0, 0.8, 0]]);
    expect(summary(post.detect(loc, conf, 1, { iouThreshold: 0.5 })[0])).toEqual([[1, A, f32(0.9)], [1, HALF, f32(0.8)]]);
    const below = post.detect(loc, conf, 1, { iouThreshold: 0.49999997 })[0];
    expect(summary(below)).toEqual([[1, A, f32(0.9)]]);
  });

  it('gives touching boxes IoU 0, so even threshold 0 keeps both', () => {
    const { post, loc } = scene([[0, 0, 0.5, 1], [0.5, 0, 1, 1], [0.25, 0, 0.75, 1]]);
    const conf = scores([[0, 0.9, 0], [0, 0.8, 0], [0, 0.7, 0]]);
    const dets = post.detect(loc, conf, 1, { iouThreshold: 0 })[0];
    expect(dets.map((d) => d.score)).toEqual([f32(0.9), f32(0.8)]);
  });

  it('never lets zero-area or inverted boxes suppress or be suppressed', () => {
    const zero = [0.5, 0.25, 0.5, 0.75];
    const inverted = [0.75, 0.25, 0.25, 0.75];
    const normal = [0.25, 0.25, 0.75, 0.75];
    const { post, loc } = scene([zero, inverted, normal, zero, normal, inverted]);
    const conf = scores([[0, 0.95, 0], [0, 0.9, 0], [0, 0.8, 0], [0, 0.7, 0], [0, 0.5, 0], [0, 0.4, 0]]);
    const dets = post.detect(loc, conf, 1, { iouThreshold: 0 })[0];
    // The second normal box (0.5) is the only one suppressed, by the first normal box.
    expect(summary(dets)).toEqual([
      [1, zero, f32(0.95)],
      [1, inverted, f32(0.9)],
      [1, normal, f32(0.8)],
      [1, zero, f32(0.7)],
      [1, inverted, f32(0.4)],
    ]);
  });

  it('never selects NaN scores, even with a -Infinity threshold', () => {
    const { post, loc } = scene([A, [0, 0, 0.5, 0.5], [0.5, 0.5, 1, 1]]);
    const conf = scores([[0, NaN, NaN], [0, 0, NaN], [NaN, -1, 0.2]]);
    const dets = post.detect(loc, conf, 1, { scoreThreshold: -Infinity, iouThreshold: 1 })[0];
    expect(dets.map((d) => [d.classId, d.score])).toEqual([[2, f32(0.2)], [1, 0], [1, -1]]);
  });

  it('treats -0 and +0 scores as equal, so prior order decides', () => {
    const q = [[0, 0, 0.5, 0.5], [0.5, 0.5, 1, 1]];
    const { post, loc } = scene(q);
    const dets = post.detect(loc, scores([[0, -0, 0], [0, 0, 0]]), 1, { scoreThreshold: -1, classIds: [1] })[0];
    expect(summary(dets)).toEqual([[1, q[0], -0], [1, q[1], 0]]);
  });

  it('selects scores strictly above the threshold, compared in float32 like Caffe', () => {
    const { post, loc } = scene([A, [0, 0, 0.5, 0.5], [0.5, 0.5, 1, 1]]);
    const justAbove = new Float32Array(new Uint32Array([new Uint32Array(new Float32Array([0.3]).buffer)[0] + 1]).buffer)[0];
    const conf = scores([[0, 0.3, 0], [0, justAbove, 0], [0, 0.25, 0]]);
    // In double 0.3f = 0.30000001192... > 0.3, but Caffe compares 0.3f > 0.3f, which is false.
    expect(post.detect(loc, conf, 1, { scoreThreshold: 0.3, iouThreshold: 1 })[0].map((d) => d.score)).toEqual([justAbove]);
    expect(post.detect(loc, conf, 1, { scoreThreshold: 0.25, iouThreshold: 1 })[0].map((d) => d.score)).toEqual([justAbove, f32(0.3)]);
  });

  it('breaks score ties by prior index inside NMS and by class then prior in the output', () => {
    const q = [[0, 0, 0.5, 0.5], [0.5, 0, 1, 0.5], [0, 0.5, 0.5, 1], [0.5, 0.5, 1, 1]];
    const { post, loc } = scene([...q, q[0]]);
    const conf = scores([[0, 0.5, 0.5], [0, 0.5, 0], [0, 0, 0.7], [0, 0.5, 0.5], [0, 0.5, 0.5]]);
    const dets = post.detect(loc, conf, 1)[0];
    // Prior 4 duplicates prior 0 with the same score: the lower index wins for both classes.
    expect(summary(dets)).toEqual([
      [2, q[2], f32(0.7)],
      [1, q[0], 0.5],
      [1, q[1], 0.5],
      [1, q[3], 0.5],
      [2, q[0], 0.5],
      [2, q[3], 0.5],
    ]);
    // keepTopK cuts through the tie deterministically in the same order.
    expect(summary(post.detect(loc, conf, 1, { keepTopK: 3 })[0])).toEqual(summary(dets.slice(0, 3)));
  });

  it('truncates each class to topK candidates before NMS (a dropped box is not reconsidered)', () => {
    const far = [0.75, 0.75, 1, 1];
    const { post, loc } = scene([A, A, far, [0, 0, 0.25, 0.25]]);
    const conf = scores([[0, 0.9, 0], [0, 0.8, 0], [0, 0.7, 0], [0, 0.6, 0]]);
    expect(post.detect(loc, conf, 1, { topK: 2 })[0].map((d) => d.score)).toEqual([f32(0.9)]);
    expect(post.detect(loc, conf, 1, { topK: 3 })[0].map((d) => d.score)).toEqual([f32(0.9), f32(0.7)]);
    expect(post.detect(loc, conf, 1, { topK: -1 })[0].map((d) => d.score)).toEqual([f32(0.9), f32(0.7), f32(0.6)]);
    expect(post.detect(loc, conf, 1, { topK: 0 })[0]).toEqual([]);
  });

  it('applies keepTopK across classes by score after per-class NMS', () => {
    const q = [[0, 0, 0.5, 0.5], [0.5, 0, 1, 0.5], [0, 0.5, 0.5, 1]];
    const { post, loc } = scene(q, 3);
    const conf = scores([[0, 0.9, 0.3], [0, 0.5, 0.8], [0, 0.2, 0.7]]);
    expect(post.detect(loc, conf, 1, { keepTopK: 3 })[0].map((d) => [d.classId, d.score])).toEqual([[1, f32(0.9)], [2, f32(0.8)], [2, f32(0.7)]]);
    expect(post.detect(loc, conf, 1, { keepTopK: -1 })[0]).toHaveLength(6);
    expect(post.detect(loc, conf, 1, { keepTopK: 0 })[0]).toEqual([]);
  });

  it('lowers the threshold by eta after each keep while it is above 0.5', () => {
    const { post, loc } = scene([A, SIXTY, [0, 0, 0.25, 0.25]]);
    const conf = scores([[0, 0.9, 0], [0, 0.8, 0], [0, 0.7, 0]]);
    // Without eta, 0.625 <= 0.8 keeps SIXTY. With eta 0.5 the threshold drops to 0.4 after A.
    expect(post.detect(loc, conf, 1, { iouThreshold: 0.8, eta: 1 })[0]).toHaveLength(3);
    expect(summary(post.detect(loc, conf, 1, { iouThreshold: 0.8, eta: 0.5 })[0]).map((d) => d[1])).toEqual([A, [0, 0, 0.25, 0.25]]);
    // At or below 0.5 eta has no effect: IoU 0.5 with threshold 0.5 stays kept.
    const half = scene([A, HALF]);
    expect(half.post.detect(half.loc, scores([[0, 0.9, 0], [0, 0.8, 0]]), 1, { iouThreshold: 0.5, eta: 0.5 })[0]).toHaveLength(2);
  });

  it('never returns the background class, and classIds restricts the classes run', () => {
    const q = [[0, 0, 0.5, 0.5], [0.5, 0, 1, 0.5]];
    const { post, loc } = scene(q, 4);
    const conf = scores([[0.99, 0.5, 0.6, 0.7], [0.98, 0.4, 0, 0]]);
    expect(post.detect(loc, conf, 1)[0].map((d) => d.classId)).toEqual([3, 2, 1, 1]);
    expect(post.detect(loc, conf, 1, { classIds: [0, 2] })[0].map((d) => d.classId)).toEqual([2]);
    expect(post.detect(loc, conf, 1, { classIds: [] })[0]).toEqual([]);
    const noBackground = scene(q, 4, -1);
    expect(noBackground.post.detect(noBackground.loc, conf, 1)[0].map((d) => d.classId)).toEqual([0, 0, 3, 2, 1, 1]);
    expect(() => post.detect(loc, conf, 1, { classIds: [4] })).toThrow('classIds: 4 is not a class id in [0, 4)');
  });

  it('labels detections and returns an empty list for an image with nothing above threshold', () => {
    const { post, loc } = scene([A]);
    expect(post.detect(loc, scores([[0, 0.05, 0.02]]), 1)).toEqual([[]]);
    expect(post.detect(loc, scores([[0, 0.05, 0.5]]), 1)[0][0]).toEqual({ classId: 2, label: 'class2', score: 0.5, xmin: 0, ymin: 0, xmax: 1, ymax: 1 });
  });
});

describe('decoding', () => {
  const priors = { count: 1, boxes: new Float32Array([0.2, 0.3, 0.6, 0.5]), variances: new Float32Array([0.1, 0.1, 0.2, 0.2]) };
  const loc = new Float32Array([0.5, -1, 0.3, -0.7]);

  it.each<[CodeType, boolean, number[]]>([
    // cx = v0*tx*pw + pcx, w = exp(v2*tw)*pw, ... (reference page §3.2)
    ['CENTER_SIZE', false, (() => {
      const cx = 0.1 * 0.5 * 0.4 + 0.4, cy = 0.1 * -1 * 0.2 + 0.4, w = Math.exp(0.2 * 0.3) * 0.4, h = Math.exp(0.2 * -0.7) * 0.2;
      return [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2];
    })()],
    ['CENTER_SIZE', true, (() => {
      const cx = 0.5 * 0.4 + 0.4, cy = -1 * 0.2 + 0.4, w = Math.exp(0.3) * 0.4, h = Math.exp(-0.7) * 0.2;
      return [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2];
    })()],
    ['CORNER', false, [0.2 + 0.1 * 0.5, 0.3 + 0.1 * -1, 0.6 + 0.2 * 0.3, 0.5 + 0.2 * -0.7]],
    ['CORNER', true, [0.2 + 0.5, 0.3 - 1, 0.6 + 0.3, 0.5 - 0.7]],
    ['CORNER_SIZE', false, [0.2 + 0.1 * 0.5 * 0.4, 0.3 + 0.1 * -1 * 0.2, 0.6 + 0.2 * 0.3 * 0.4, 0.5 + 0.2 * -0.7 * 0.2]],
    ['CORNER_SIZE', true, [0.2 + 0.5 * 0.4, 0.3 - 1 * 0.2, 0.6 + 0.3 * 0.4, 0.5 - 0.7 * 0.2]],
  ])('decodes %s (variance in target: %s) like the reference formulas', (codeType, inTarget, expected) => {
    const out = new Float32Array(4);
    const size = decodeBox(loc, 0, priors, 0, codeType, inTarget, false, out, 0);
    Array.from(out).forEach((v, i) => expect(Math.abs(v - expected[i])).toBeLessThan(1e-6));
    const [x0, y0, x1, y1] = expected;
    expect(size).toBeCloseTo(x1 < x0 || y1 < y0 ? 0 : (x1 - x0) * (y1 - y0), 6);
  });

  it('gives inverted boxes size 0 (Caffe BBoxSize) and zero-width boxes size 0', () => {
    expect(boxSize(0.5, 0, 0.4, 1)).toBe(0);
    expect(boxSize(0, 0.5, 1, 0.4)).toBe(0);
    expect(boxSize(0.5, 0, 0.5, 1)).toBe(0);
    expect(boxSize(0, 0, 0.5, 0.25)).toBe(0.125);
    const out = new Float32Array(4);
    expect(decodeBox(new Float32Array([0, 0, -3, 0]), 0, priors, 0, 'CORNER', false, false, out, 0)).toBe(0);
    expect(out[2]).toBeLessThan(out[0]);
  });

  it('clips only when asked, and decodeBoxes covers every prior with its size', () => {
    const wide = new Float32Array([0, 0, 10, 10]);
    const out = new Float32Array(4);
    decodeBox(wide, 0, priors, 0, 'CENTER_SIZE', false, false, out, 0);
    expect(out[0]).toBeLessThan(0);
    expect(out[2]).toBeGreaterThan(1);
    decodeBox(wide, 0, priors, 0, 'CENTER_SIZE', false, true, out, 0);
    expect(Array.from(out)).toEqual([0, 0, 1, 1]);
    const table = buildPriors(MOBILENET_SSD_VOC_300);
    const all = new Float32Array(table.count * 4);
    const sizes = new Float32Array(table.count);
    decodeBoxes(new Float32Array(table.count * 4), 0, table, 'CENTER_SIZE', false, all, false, sizes);
    // Zero offsets decode to the priors themselves.
    expect(Math.max(...all.map((v, i) => Math.abs(v - table.boxes[i])))).toBeLessThan(1e-6);
    expect(Math.min(...sizes)).toBeGreaterThan(0);
    expect(() => decodeBoxes(new Float32Array(10), 0, table, 'CENTER_SIZE', false, all)).toThrow(RangeError);
  });
});

describe('jaccardOverlap', () => {
  it('is the normalised IoU with Caffe edge cases: touching 0, degenerate 0, NaN asymmetric', () => {
    const list = [[0, 0, 1, 1], [0, 0, 1, 0.5], [1, 0, 2, 1], [0.75, 0, 0.25, 1], [0.5, 0, 0.5, 1], [NaN, 0, 1, 1], [0.5, 0.5, 1.5, 1.5]];
    const boxes = new Float32Array(list.flat());
    const sizes = new Float32Array(list.map(([a, b, c, d]) => (c < a || d < b ? 0 : boxSize(a, b, c, d))));
    expect(jaccardOverlap(boxes, sizes, 0, 0)).toBe(1);
    expect(jaccardOverlap(boxes, sizes, 0, 1)).toBe(0.5);
    expect(jaccardOverlap(boxes, sizes, 0, 2)).toBe(0); // touching
    expect(jaccardOverlap(boxes, sizes, 0, 3)).toBe(0); // inverted
    expect(jaccardOverlap(boxes, sizes, 3, 0)).toBe(0);
    expect(jaccardOverlap(boxes, sizes, 4, 0)).toBe(0); // zero width
    expect(jaccardOverlap(boxes, sizes, 0, 6)).toBe(f32(0.25 / 1.75));
    // std::max(NaN, x) is NaN but std::max(x, NaN) is x, so only one order yields a NaN IoU.
    expect(jaccardOverlap(boxes, sizes, 5, 0)).toBe(0);
    expect(jaccardOverlap(boxes, sizes, 0, 5)).toBeNaN();
  });
});

describe('applyNmsFast', () => {
  it('returns kept indices of one class in descending score order', () => {
    const boxes = new Float32Array([0, 0, 1, 1, 0, 0, 1, 0.9, 0.2, 0.2, 0.3, 0.3, 2, 2, 3, 3]);
    const sizes = new Float32Array([1, 0.9, f32(0.1 * 0.1), 1]);
    const conf = new Float32Array([0.6, 0.9, 0.8, 0.1]);
    expect(Array.from(applyNmsFast(boxes, sizes, conf, { scoreThreshold: 0.2, iouThreshold: 0.5, topK: -1, eta: 1 }))).toEqual([1, 2]);
    expect(Array.from(applyNmsFast(boxes, sizes, conf, { scoreThreshold: 0.2, iouThreshold: 0.95, topK: -1, eta: 1 }))).toEqual([1, 2, 0]);
  });
});

// ---------- randomized comparison with the slow reference ----------

const SMALL_HEADS: PriorBoxHead[] = [
  { featureMap: [3, 3], minSizes: [30], maxSizes: [60], aspectRatios: [2], variance: [0.1, 0.1, 0.2, 0.2] },
  { featureMap: [2, 2], minSizes: [60], aspectRatios: [2, 3], variance: [0.1, 0.1, 0.2, 0.2] },
  { featureMap: [1, 1], minSizes: [90], maxSizes: [100], variance: [0.2] },
];

interface RandomCase {
  spec: SsdSpec;
  batch: number;
  loc: Float32Array;
  conf: Float32Array;
  options: DetectOptions;
  resolved: RefOptions;
}

function randomCase(seed: number): RandomCase {
  const rng = new Prng(seed);
  const classes = rng.int(2, 6);
  const backgroundLabelId = rng.pick([-1, 0, 0, classes - 1]);
  const codeType = rng.pick<CodeType>(['CENTER_SIZE', 'CENTER_SIZE', 'CORNER', 'CORNER_SIZE']);
  // Dyadic grids make exact IoU ties and IoUs exactly at dyadic thresholds (0.5) likely.
  const dyadic = rng.chance(0.5);
  let priors: SsdSpec['priors'];
  if (rng.chance(0.4)) {
    priors = { kind: 'priorbox', heads: SMALL_HEADS };
  } else {
    const count = rng.int(1, 40);
    const pool = Array.from({ length: rng.int(1, 6) }, () => {
      const x0 = rng.int(0, 6) / 8, y0 = rng.int(0, 6) / 8;
      return [x0, y0, x0 + rng.int(1, 8 - x0 * 8) / 8, y0 + rng.int(1, 8 - y0 * 8) / 8];
    });
    // A box and its upper half overlap with IoU exactly 0.5.
    for (const [x0, y0, x1, y1] of [...pool]) if (rng.chance(0.5)) pool.push([x0, y0, x1, (y0 + y1) / 2]);
    const boxes = Array.from({ length: count }, () => rng.pick(pool)).flat();
    const variances = rng.chance(0.5) ? [0.5, 0.5, 1, 1] : Array.from({ length: count * 4 }, () => rng.pick([0.5, 1, 2]));
    priors = { kind: 'table', boxes, variances };
  }
  const nms = {
    scoreThreshold: rng.pick([0.1, 0.25, 0.3, 0.5]),
    iouThreshold: dyadic ? rng.pick([0, 0.25, 0.5, 0.5, 0.75, 1]) : rng.pick([0, 0.3, 0.45, 0.5, 0.7, 1]),
    topK: rng.pick([-1, -1, 0, 1, 3, 10, 100]),
    keepTopK: rng.pick([-1, -1, 0, 2, 5, 20]),
    eta: rng.pick([1, 1, 0.9, 0.6]),
  };
  const spec: SsdSpec = {
    ...MOBILENET_SSD_VOC_300,
    input: { ...MOBILENET_SSD_VOC_300.input, width: 100, height: 100 },
    labels: Array.from({ length: classes }, (_, c) => `c${c}`),
    backgroundLabelId,
    priors,
    codeType,
    varianceEncodedInTarget: rng.chance(0.3),
    clipBoxes: rng.chance(0.25),
    nms,
  };
  const P = priors.kind === 'table' ? priors.boxes.length / 4 : 9 * 4 + 4 * 5 + 2;
  const batch = rng.int(1, 3);
  const loc = new Float32Array(batch * P * 4);
  for (let i = 0; i < loc.length; i++) loc[i] = randomLoc(rng, dyadic, codeType, i % 4);
  // Zero offsets decode (exactly, on dyadic priors) to the prior itself, so duplicates and the
  // half boxes above reach NMS unchanged.
  if (dyadic) for (let i = 0; i < loc.length; i += 4) if (rng.chance(0.5)) loc.fill(0, i, i + 4);
  const conf = new Float32Array(batch * P * classes);
  const tiePool = [nms.scoreThreshold, 0.4, 0.5, 0.75, 0.9];
  for (let i = 0; i < conf.length; i++) {
    const r = rng.next();
    conf[i] = r < 0.02 ? NaN : r < 0.35 ? rng.pick(tiePool) : r < 0.45 ? 0 : rng.next();
  }
  // Half the cases override the spec defaults per call.
  const options: DetectOptions = {};
  const resolved: RefOptions = { ...nms };
  if (rng.chance(0.5)) {
    resolved.scoreThreshold = options.scoreThreshold = rng.pick([0.05, 0.3, 0.6]);
    resolved.iouThreshold = options.iouThreshold = rng.pick([0.25, 0.5, 0.625, 0.9]);
    resolved.topK = options.topK = rng.pick([-1, 2, 5]);
    resolved.keepTopK = options.keepTopK = rng.pick([-1, 1, 4, 8]);
    resolved.eta = options.eta = rng.pick([1, 0.8, 0.5]);
  }
  if (rng.chance(0.25)) {
    resolved.classIds = options.classIds = Array.from({ length: classes }, (_, c) => c).filter(() => rng.chance(0.5));
  }
  return { spec, batch, loc, conf, options, resolved };
}

function randomLoc(rng: Prng, dyadic: boolean, codeType: CodeType, component: number): number {
  const r = rng.next();
  if (r < 0.002) return NaN;
  if (r < 0.03) {
    // Degenerate boxes: exp underflow gives zero size for CENTER_SIZE; large corner moves invert.
    return codeType === 'CENTER_SIZE' ? (component >= 2 ? -1000 : 0) : component >= 2 ? -4 : 4;
  }
  if (dyadic) return rng.int(-4, 4) / 8;
  return (rng.next() * 2 - 1) * 1.5;
}

describe('SsdPostprocessor against the slow reference', () => {
  it('matches on 600 seeded random cases covering ties, thresholds, degenerate boxes, NaN and eta', () => {
    const stats: RefStats = emptyStats();
    let detections = 0;
    let multiImage = 0;
    let filtered = 0;
    for (let seed = 1; seed <= 600; seed++) {
      const c = randomCase(seed);
      const post = new SsdPostprocessor(c.spec);
      const fast = post.detect(c.loc, c.conf, c.batch, c.options);
      const ref = refDetect(c.spec, post.priors, c.loc, c.conf, c.batch, c.resolved, stats);
      if (JSON.stringify(fast) !== JSON.stringify(ref)) {
        // toEqual gives the readable diff; the seed identifies the case.
        expect({ seed, fast }).toEqual({ seed, fast: ref });
      }
      detections += fast.reduce((n, image) => n + image.length, 0);
      if (c.batch > 1 && fast.some((image, i) => JSON.stringify(image) !== JSON.stringify(fast[0]) && i > 0)) multiImage++;
      if (c.options.classIds) filtered++;
      for (const image of fast) {
        for (const d of image) expect(d.classId).not.toBe(c.spec.backgroundLabelId);
      }
    }
    if (process.env.SSD_PRINT_STATS) console.log(stats, { detections, multiImage, filtered });
    // Guard against a vacuous comparison: every behaviour the generator aims at actually occurred.
    expect(detections).toBeGreaterThan(5000);
    expect(multiImage).toBeGreaterThan(100);
    expect(filtered).toBeGreaterThan(50);
    expect(stats.suppressed).toBeGreaterThan(1000);
    expect(stats.topKCuts).toBeGreaterThan(200);
    expect(stats.keepTopKCuts).toBeGreaterThan(100);
    expect(stats.tiedScoresKept).toBeGreaterThan(1000);
    expect(stats.nanScores).toBeGreaterThan(500);
    expect(stats.degenerateKept).toBeGreaterThan(500);
    expect(stats.iouAtThreshold).toBeGreaterThan(100);
    expect(stats.etaChanges).toBeGreaterThan(200);
  });

  it('matches on MobileNet-SSD sized outputs with few and many candidates', () => {
    const post = new SsdPostprocessor(MOBILENET_SSD_VOC_300);
    let detections = 0;
    for (const [seed, hot, perPrior] of [[11, 10, 1], [12, 300, 2], [13, 1000, 2], [14, 1917, 3]]) {
      const { loc, conf, candidates } = syntheticOutputs(seed, hot, perPrior);
      expect(candidates).toBeGreaterThan(0);
      for (const options of [{}, { keepTopK: -1, topK: -1 }, { iouThreshold: 0.7, eta: 0.9, keepTopK: 30 }]) {
        const resolved = { ...MOBILENET_SSD_VOC_300.nms, ...options };
        const fast = post.detect(loc, conf, 1, options);
        const ref = refDetect(MOBILENET_SSD_VOC_300, post.priors, loc, conf, 1, resolved);
        expect(fast).toEqual(ref);
        detections += fast[0].length;
      }
    }
    expect(detections).toBeGreaterThan(500);
  });
});

describe('SsdPostprocessor API', () => {
  const post = new SsdPostprocessor(MOBILENET_SSD_VOC_300);
  const one = syntheticOutputs(21, 40, 1);
  const two = syntheticOutputs(22, 60, 2);

  it('exposes the spec, priors and class count', () => {
    expect(post.numClasses).toBe(21);
    expect(post.numPriors).toBe(1917);
    expect(post.priors.count).toBe(1917);
    expect(post.spec).toEqual(MOBILENET_SSD_VOC_300);
  });

  it('handles a batch of different images independently', () => {
    const loc = new Float32Array([...one.loc, ...two.loc]);
    const conf = new Float32Array([...one.conf, ...two.conf]);
    const batched = post.detect(loc, conf, 2);
    const first = post.detect(one.loc, one.conf, 1)[0];
    const second = post.detect(two.loc, two.conf, 1)[0];
    expect(first.length).toBeGreaterThan(0);
    expect(second.length).toBeGreaterThan(0);
    expect(first).not.toEqual(second);
    expect(batched).toEqual([first, second]);
    expect(post.detect(new Float32Array(0), new Float32Array(0), 0)).toEqual([]);
  });

  it('gives identical results when one instance is reused across calls', () => {
    const a = post.detect(one.loc, one.conf, 1);
    post.detect(two.loc, two.conf, 1, { topK: -1, keepTopK: -1, scoreThreshold: 0.01 });
    expect(post.detect(one.loc, one.conf, 1)).toEqual(a);
    // A second instance agrees too.
    expect(new SsdPostprocessor(MOBILENET_SSD_VOC_300, buildPriors(MOBILENET_SSD_VOC_300)).detect(one.loc, one.conf, 1)).toEqual(a);
  });

  it('sorts each image by score across classes', () => {
    const dets = post.detect(two.loc, two.conf, 1)[0];
    expect(dets.length).toBeGreaterThan(10);
    expect(new Set(dets.map((d) => d.classId)).size).toBeGreaterThan(3);
    for (let i = 1; i < dets.length; i++) expect(dets[i - 1].score).toBeGreaterThanOrEqual(dets[i].score);
  });

  it('leaves decoded boxes unclipped unless clipBoxes is set', () => {
    const { loc, conf } = syntheticOutputs(23, 1917, 1);
    const coords = (d: Detection[]): number[] => d.flatMap((x) => [x.xmin, x.ymin, x.xmax, x.ymax]);
    const open = coords(post.detect(loc, conf, 1, { keepTopK: -1 })[0]);
    expect(Math.min(...open)).toBeLessThan(0);
    expect(Math.max(...open)).toBeGreaterThan(1);
    const clipped = coords(new SsdPostprocessor({ ...MOBILENET_SSD_VOC_300, clipBoxes: true }).detect(loc, conf, 1, { keepTopK: -1 })[0]);
    expect(clipped.length).toBeGreaterThan(0);
    expect(Math.min(...clipped)).toBe(0);
    expect(Math.max(...clipped)).toBe(1);
  });

  it('rejects mismatched tensor lengths and invalid options with clear errors', () => {
    const { loc, conf } = one;
    expect(() => post.detect(loc.subarray(1), conf, 1)).toThrow('loc has 7667 values, expected batchSize * priors * 4 = 1 * 1917 * 4 = 7668');
    expect(() => post.detect(loc, conf.subarray(1), 1)).toThrow('conf has 40256 values, expected batchSize * priors * classes = 1 * 1917 * 21 = 40257');
    expect(() => post.detect(loc, conf, 2)).toThrow('loc has 7668 values');
    expect(() => post.detect(loc, conf, -1)).toThrow('batchSize must be a non-negative integer');
    expect(() => post.detect(Array.from(loc) as unknown as Float32Array, conf, 1)).toThrow('loc must be a Float32Array');
    expect(() => post.detect(loc, conf, 1, { iouThreshold: 1.5 })).toThrow('iouThreshold must be in [0, 1]');
    expect(() => post.detect(loc, conf, 1, { topK: -2 })).toThrow('topK must be an integer >= -1');
    expect(() => post.detect(loc, conf, 1, { keepTopK: 0.5 })).toThrow('keepTopK must be an integer >= -1');
    expect(() => post.detect(loc, conf, 1, { eta: 0 })).toThrow('eta must be in (0, 1]');
    expect(() => post.detect(loc, conf, 1, { scoreThreshold: NaN })).toThrow('scoreThreshold must be a number');
  });

  it('validates the spec and any priors it is given', () => {
    expect(() => new SsdPostprocessor({ ...MOBILENET_SSD_VOC_300, labels: [] })).toThrow('labels must have at least 1 element');
    const table = buildPriors(MOBILENET_SSD_VOC_300);
    const short = { count: 1916, boxes: table.boxes.subarray(4), variances: table.variances.subarray(4) };
    expect(() => new SsdPostprocessor(MOBILENET_SSD_VOC_300, short)).toThrow('priors.count is 1916, but the spec defines 1917 priors');
    const flat = { count: 1917, boxes: table.boxes.slice(), variances: table.variances };
    flat.boxes[7] = flat.boxes[5];
    expect(() => new SsdPostprocessor(MOBILENET_SSD_VOC_300, flat)).toThrow('prior 1 has a non-positive width or height');
  });
});
