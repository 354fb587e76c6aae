import {
  MOBILENET_SSD_VOC_300,
  buildPriors,
  countPriors,
  expandAspectRatios,
  priorBoxHeadCount,
  type PriorBoxHead,
  type SsdSpec,
} from '../src/index';
import { refPriors } from './support/reference';

const f32 = Math.fround;

function specWith(heads: PriorBoxHead[], width = 300, height = 300): SsdSpec {
  return {
    ...MOBILENET_SSD_VOC_300,
    input: { ...MOBILENET_SSD_VOC_300.input, width, height },
    priors: { kind: 'priorbox', heads },
  };
}

function prior(table: { boxes: Float32Array }, i: number): number[] {
  return Array.from(table.boxes.subarray(i * 4, i * 4 + 4));
}

/** Largest coordinate difference between a prior table and reference boxes (same count required). */
function maxDeviation(table: { boxes: Float32Array; count: number }, ref: Array<{ xmin: number; ymin: number; xmax: number; ymax: number }>): number {
  expect(ref).toHaveLength(table.count);
  let worst = 0;
  ref.forEach((b, i) => {
    const d = [b.xmin, b.ymin, b.xmax, b.ymax].map((v, j) => Math.abs(table.boxes[i * 4 + j] - v));
    // NaN must count as a failure, so compare with a negated <=.
    for (const x of d) if (!(x <= worst)) worst = Number.isNaN(x) ? Infinity : x;
  });
  return worst;
}

function expectClose(actual: number[], expected: number[], tolerance: number): void {
  expect(actual).toHaveLength(expected.length);
  actual.forEach((a, i) => {
    if (!(Math.abs(a - expected[i]) <= tolerance)) {
      throw new Error(`index ${i}: ${a} differs from ${expected[i]} by more than ${tolerance} (actual ${JSON.stringify(actual)})`);
    }
  });
}

describe('MobileNet-SSD VOC 300 priors', () => {
  const table = buildPriors(MOBILENET_SSD_VOC_300);

  it('has 1917 priors: 3 per location on the 19x19 head and 6 on the others', () => {
    expect(table.count).toBe(1917);
    expect(countPriors(MOBILENET_SSD_VOC_300)).toBe(1917);
    expect(table.boxes).toHaveLength(1917 * 4);
    expect(table.variances).toHaveLength(1917 * 4);
    const heads = MOBILENET_SSD_VOC_300.priors.kind === 'priorbox' ? MOBILENET_SSD_VOC_300.priors.heads : [];
    expect(heads.map(priorBoxHeadCount)).toEqual([3, 6, 6, 6, 6, 6]);
    expect(heads.map((h) => h.featureMap[0] * h.featureMap[1] * priorBoxHeadCount(h))).toEqual([1083, 600, 150, 54, 24, 6]);
  });

  it.each([
    [0, [-0.073684, -0.073684, 0.126316, 0.126316]],
    [1, [-0.115106, -0.044395, 0.167737, 0.097026]],
    [1083, [-0.125, -0.125, 0.225, 0.225]],
    [1911, [0.025, 0.025, 0.975, 0.975]],
    [1916, [0.225759, -0.322724, 0.774241, 1.322724]],
  ])('prior %i matches the reference page spot value to 1e-6', (i, expected) => {
    expectClose(prior(table, i), expected, 1e-6);
  });

  it('gives every prior the variances 0.1 0.1 0.2 0.2', () => {
    const expected = [f32(0.1), f32(0.1), f32(0.2), f32(0.2)];
    for (let i = 0; i < table.count; i++) expect(Array.from(table.variances.subarray(i * 4, i * 4 + 4))).toEqual(expected);
  });

  it('is not clipped: coordinates span about -0.4428 to 1.4428', () => {
    const all = Array.from(table.boxes);
    expect(Math.min(...all)).toBeCloseTo(-0.4428, 4);
    expect(Math.max(...all)).toBeCloseTo(1.4428, 4);
  });

  it('matches a plain double-precision PriorBox over all 1917 priors to 1e-6', () => {
    const ref = refPriors(MOBILENET_SSD_VOC_300);
    expect(ref.boxes).toHaveLength(1917);
    expect(maxDeviation(table, ref.boxes)).toBeLessThanOrEqual(1e-6);
  });

  it('emits per cell: min box, sqrt(min*max) box, then ratio boxes 2, 1/2, 3, 1/3 (conv13 sizes in pixels)', () => {
    const sizes = [];
    for (let k = 0; k < 6; k++) {
      const [x0, y0, x1, y1] = prior(table, 1083 + k);
      sizes.push([(x1 - x0) * 300, (y1 - y0) * 300]);
    }
    expectClose(sizes.flat(), [105, 105, 125.5, 125.5, 148.49, 74.25, 74.25, 148.49, 181.87, 60.62, 60.62, 181.87], 0.01);
  });
});

describe('PriorBox options', () => {
  it('a 512x512 spec with several min sizes, unflipped ratios, offsets and step overrides matches the plain PriorBox', () => {
    const spec = specWith([
      { featureMap: [64, 64], minSizes: [20, 35], maxSizes: [51, 60], aspectRatios: [2], variance: [0.1, 0.1, 0.2, 0.2], step: 8 },
      { featureMap: [32, 32], minSizes: [51], maxSizes: [133], aspectRatios: [2, 3], flip: false, variance: [0.1, 0.1, 0.2, 0.2], offset: 0.25 },
      { featureMap: [16, 16], minSizes: [133], aspectRatios: [2, 3], stepH: 30, stepW: 34 },
      { featureMap: [8, 8], minSizes: [215], maxSizes: [296], aspectRatios: [2], imgSize: 500 },
      { featureMap: [4, 6], minSizes: [296], maxSizes: [378], aspectRatios: [3], imgH: 480, imgW: 640, offset: 0 },
      { featureMap: [1, 1], minSizes: [460], maxSizes: [512], aspectRatios: [2] },
    ], 512, 512);
    const table = buildPriors(spec);
    const ref = refPriors(spec);
    // 64*64*2*(1+1+2) + 32*32*(3+1) + 16*16*5 + 8*8*4 + 4*6*4 + 1*4
    expect(table.count).toBe(32768 + 4096 + 1280 + 256 + 96 + 4);
    expect(countPriors(spec)).toBe(table.count);
    expect(maxDeviation(table, ref.boxes)).toBeLessThanOrEqual(1e-6);
    expect(Array.from(table.variances)).toEqual(ref.variances.flat().map(f32));
  });

  it('uses step and image size overrides for centres and normalisation', () => {
    // Default step would be 300/2 = 150; step 100 puts the first centre at 50 instead of 75.
    const stepped = buildPriors(specWith([{ featureMap: [2, 2], minSizes: [60], step: 100 }]));
    expectClose(prior(stepped, 0), [20 / 300, 20 / 300, 80 / 300, 80 / 300], 1e-7);
    expectClose(prior(stepped, 3), [120 / 300, 120 / 300, 180 / 300, 180 / 300], 1e-7);
    const split = buildPriors(specWith([{ featureMap: [2, 2], minSizes: [60], stepH: 100, stepW: 40 }]));
    expectClose(prior(split, 1), [(60 - 30) / 300, (50 - 30) / 300, (60 + 30) / 300, (50 + 30) / 300], 1e-7);
    // imgSize replaces the input size both for the default step and for normalisation.
    const img = buildPriors(specWith([{ featureMap: [2, 2], minSizes: [60], imgSize: 600 }]));
    expectClose(prior(img, 0), [(150 - 30) / 600, (150 - 30) / 600, (150 + 30) / 600, (150 + 30) / 600], 1e-7);
    const imgHW = buildPriors(specWith([{ featureMap: [2, 2], minSizes: [60], imgH: 200, imgW: 400 }]));
    expectClose(prior(imgHW, 0), [(100 - 30) / 400, (50 - 30) / 200, (100 + 30) / 400, (50 + 30) / 200], 1e-7);
    const none = buildPriors(specWith([{ featureMap: [2, 2], minSizes: [60] }], 300, 200));
    expectClose(prior(none, 0), [(75 - 30) / 300, (50 - 30) / 200, (75 + 30) / 300, (50 + 30) / 200], 1e-7);
  });

  it('clips coordinates to [0, 1] only when clip is true', () => {
    const heads: PriorBoxHead[] = [{ featureMap: [3, 3], minSizes: [200], aspectRatios: [3] }];
    const open = buildPriors(specWith(heads));
    const clipped = buildPriors(specWith([{ ...heads[0], clip: true }]));
    expect(Math.min(...open.boxes)).toBeLessThan(0);
    expect(Math.max(...open.boxes)).toBeGreaterThan(1);
    expect(Math.min(...clipped.boxes)).toBe(0);
    expect(Math.max(...clipped.boxes)).toBe(1);
    expect(Array.from(clipped.boxes)).toEqual(Array.from(open.boxes, (v) => Math.min(Math.max(v, 0), 1)));
  });

  it('drops aspect ratios within 1e-6 of one already listed, including 1 and earlier flips', () => {
    expect(expandAspectRatios({ aspectRatios: [1, 2, 2.0000005, 0.5, 3], flip: true })).toEqual([1, 2, 0.5, 3, f32(1 / 3)]);
    expect(expandAspectRatios({ aspectRatios: [2, 0.5, 2.00001], flip: false })).toEqual([1, 2, 0.5, f32(2.00001)]);
    expect(expandAspectRatios({})).toEqual([1]);
    const head: PriorBoxHead = { featureMap: [1, 1], minSizes: [30], aspectRatios: [1, 2, 2.0000005, 0.5, 3] };
    expect(priorBoxHeadCount(head)).toBe(5);
    expect(buildPriors(specWith([head])).count).toBe(5);
  });

  it('truncates fractional min/max sizes to int like Caffe', () => {
    const table = buildPriors(specWith([{ featureMap: [1, 1], minSizes: [60.9], maxSizes: [150.7] }]));
    const [x0, , x1] = prior(table, 0);
    expect((x1 - x0) * 300).toBeCloseTo(60, 4);
    const [m0, , m1] = prior(table, 1);
    expect((m1 - m0) * 300).toBeCloseTo(Math.sqrt(60 * 150), 4);
  });

  it('fills all four variances from one value and defaults to 0.1', () => {
    const one = buildPriors(specWith([{ featureMap: [2, 2], minSizes: [60], variance: [0.3] }]));
    expect(Array.from(one.variances)).toEqual(new Array(16).fill(f32(0.3)));
    const none = buildPriors(specWith([{ featureMap: [2, 2], minSizes: [60] }]));
    expect(Array.from(none.variances)).toEqual(new Array(16).fill(f32(0.1)));
  });
});

describe('table priors', () => {
  const boxes = [0.1, 0.1, 0.3, 0.4, 0.5, 0.5, 0.9, 0.8, -0.2, 0, 0.6, 1.1];
  const base = MOBILENET_SSD_VOC_300;

  it('are passed through unchanged and 4 shared variances are repeated per prior', () => {
    const spec: SsdSpec = { ...base, priors: { kind: 'table', boxes, variances: [0.1, 0.1, 0.2, 0.2] } };
    const table = buildPriors(spec);
    expect(table.count).toBe(3);
    expect(countPriors(spec)).toBe(3);
    expect(Array.from(table.boxes)).toEqual(boxes.map(f32));
    expect(Array.from(table.variances)).toEqual([0.1, 0.1, 0.2, 0.2, 0.1, 0.1, 0.2, 0.2, 0.1, 0.1, 0.2, 0.2].map(f32));
  });

  it('keep per-prior variances as given', () => {
    const variances = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12].map((v) => v / 10);
    const table = buildPriors({ ...base, priors: { kind: 'table', boxes, variances } });
    expect(Array.from(table.variances)).toEqual(variances.map(f32));
  });
});
