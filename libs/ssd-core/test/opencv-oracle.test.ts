// Cross-checks priors and detections against OpenCV dnn's own PriorBox and DetectionOutput layers
// (an independent C++ implementation of the Caffe-SSD layers), run through a small Python script.
// Needs the Debian package python3-opencv; set SSD_SKIP_OPENCV=1 to skip deliberately.

import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MOBILENET_SSD_VOC_300, SsdPostprocessor, buildPriors, type CodeType, type NmsSpec, type SsdSpec } from '../src/index';
import { syntheticOutputs } from '../src/testing';
import { maxAbsDiff } from '../src/testing';

const PYTHON = '/usr/bin/python3';
const SCRIPT = join(__dirname, 'oracle', 'opencv_ssd_oracle.py');
const skip = process.env.SSD_SKIP_OPENCV === '1';

interface OracleResult {
  opencv: string;
  priors: number[];
  variances: number[];
  /** [image, label, score, xmin, ymin, xmax, ymax] */
  detections: number[][];
}

type OracleNms = Pick<NmsSpec, 'scoreThreshold' | 'iouThreshold' | 'topK' | 'keepTopK'>;

function runOracle(spec: SsdSpec, loc: Float32Array, conf: Float32Array, batch: number, nms: OracleNms = spec.nms): OracleResult {
  const dir = mkdtempSync(join(tmpdir(), 'ssd-core-oracle-'));
  try {
    writeFileSync(join(dir, 'job.json'), JSON.stringify({ spec, batch, nms }));
    writeFileSync(join(dir, 'loc.f32'), Buffer.from(loc.buffer, loc.byteOffset, loc.byteLength));
    writeFileSync(join(dir, 'conf.f32'), Buffer.from(conf.buffer, conf.byteOffset, conf.byteLength));
    const run = spawnSync(PYTHON, [SCRIPT, dir], { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
    if (run.error || run.status !== 0) throw new Error(`OpenCV oracle failed (status ${run.status}): ${run.error?.message ?? ''}\n${run.stderr}`);
    return JSON.parse(run.stdout) as OracleResult;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}


type Row = [label: number, score: number, xmin: number, ymin: number, xmax: number, ymax: number];

/** Compares one image's detections as sets: same (label, score) pairs, boxes within 1e-5. */
function expectSameDetections(ours: Row[], theirs: Row[]): void {
  const order = (a: Row, b: Row): number => a[0] - b[0] || b[1] - a[1] || a[2] - b[2];
  ours.sort(order);
  theirs.sort(order);
  expect(ours.map((r) => [r[0], r[1]])).toEqual(theirs.map((r) => [r[0], Math.fround(r[1])]));
  expect(maxAbsDiff(ours.flatMap((r) => r.slice(2)), theirs.flatMap((r) => r.slice(2)))).toBeLessThan(1e-5);
}

function compareDetections(spec: SsdSpec, loc: Float32Array, conf: Float32Array, batch: number, nms: OracleNms): number {
  const oracle = runOracle(spec, loc, conf, batch, nms);
  const ours = new SsdPostprocessor(spec).detect(loc, conf, batch, nms);
  let total = 0;
  for (let n = 0; n < batch; n++) {
    const theirs = oracle.detections.filter((d) => d[0] === n).map((d) => d.slice(1) as Row);
    const mine = ours[n].map((d): Row => [d.classId, d.score, d.xmin, d.ymin, d.xmax, d.ymax]);
    expectSameDetections(mine, theirs);
    total += mine.length;
  }
  return total;
}

(skip ? describe.skip : describe)('OpenCV dnn oracle (python3-opencv)', () => {
  beforeAll(() => {
    const probe = spawnSync(PYTHON, ['-c', 'import cv2, numpy'], { encoding: 'utf8' });
    if (probe.error || probe.status !== 0) {
      throw new Error(
        `${PYTHON} cannot import cv2 (${probe.error?.message ?? probe.stderr.trim()}). ` +
          'Install the Debian package python3-opencv (apt-get install -y python3-opencv), or set SSD_SKIP_OPENCV=1 to skip this suite.',
      );
    }
  });

  it('MobileNet-SSD priors and variances equal OpenCV PriorBox output to 1e-6', () => {
    const { loc, conf } = syntheticOutputs(1, 10, 1);
    const oracle = runOracle(MOBILENET_SSD_VOC_300, loc, conf, 1);
    const table = buildPriors(MOBILENET_SSD_VOC_300);
    expect(oracle.priors).toHaveLength(1917 * 4);
    expect(maxAbsDiff(table.boxes, oracle.priors)).toBeLessThanOrEqual(1e-6);
    expect(maxAbsDiff(table.variances, oracle.variances)).toBeLessThanOrEqual(1e-7);
  });

  // OpenCV's PriorBox ignores img_size/img_h/img_w (it always uses the `data` blob's size), so
  // those overrides are checked only against the plain reference in priors.test.ts.
  it('custom heads (two min sizes, no flip, step overrides, offsets, clip) equal OpenCV PriorBox output to 1e-6', () => {
    const spec: SsdSpec = {
      ...MOBILENET_SSD_VOC_300,
      input: { ...MOBILENET_SSD_VOC_300.input, width: 512, height: 384 },
      priors: {
        kind: 'priorbox',
        heads: [
          { featureMap: [24, 32], minSizes: [20, 36], maxSizes: [40, 50], aspectRatios: [2], variance: [0.1, 0.1, 0.2, 0.2], step: 16 },
          { featureMap: [12, 16], minSizes: [51], maxSizes: [133], aspectRatios: [2, 3], flip: false, variance: [0.1], offset: 0.25 },
          { featureMap: [6, 8], minSizes: [133], aspectRatios: [2, 3, 0.5], stepH: 60, stepW: 64, variance: [0.1, 0.1, 0.2, 0.2] },
          { featureMap: [3, 4], minSizes: [215], maxSizes: [296], aspectRatios: [2], clip: true, variance: [0.2] },
          { featureMap: [1, 2], minSizes: [300], aspectRatios: [3], offset: 0, variance: [0.1, 0.1, 0.2, 0.2] },
        ],
      },
    };
    const table = buildPriors(spec);
    const P = table.count;
    const rows = new Float32Array(P * spec.labels.length);
    const oracle = runOracle(spec, new Float32Array(P * 4), rows, 1);
    expect(oracle.priors).toHaveLength(P * 4);
    expect(maxAbsDiff(table.boxes, oracle.priors)).toBeLessThanOrEqual(1e-6);
    expect(maxAbsDiff(table.variances, oracle.variances)).toBeLessThanOrEqual(1e-7);
  });

  it('MobileNet-SSD detections for a batch of two images equal OpenCV DetectionOutput as sets', () => {
    const few = syntheticOutputs(31, 12, 1);
    const many = syntheticOutputs(32, 1000, 2);
    const loc = new Float32Array([...few.loc, ...many.loc]);
    const conf = new Float32Array([...few.conf, ...many.conf]);
    expect(compareDetections(MOBILENET_SSD_VOC_300, loc, conf, 2, MOBILENET_SSD_VOC_300.nms)).toBeGreaterThan(100);
  });

  // OpenCV 4.6 knows no CORNER_SIZE and wants a prior blob without variances when the variance is
  // encoded in the target, so those variants are covered by the slow reference only.
  it.each<[CodeType, boolean, OracleNms]>([
    ['CENTER_SIZE', false, { scoreThreshold: 0.3, iouThreshold: 0.3, topK: 20, keepTopK: 30 }],
    ['CENTER_SIZE', false, { scoreThreshold: 0.26, iouThreshold: 0.6, topK: 50, keepTopK: 200 }],
    ['CORNER', false, { scoreThreshold: 0.25, iouThreshold: 0.45, topK: 100, keepTopK: 100 }],
    ['CORNER', false, { scoreThreshold: 0.25, iouThreshold: 0.2, topK: 10, keepTopK: 50 }],
  ])('%s (variance in target: %s) with %j equals OpenCV', (codeType, varianceEncodedInTarget, nms) => {
    const spec: SsdSpec = { ...MOBILENET_SSD_VOC_300, codeType, varianceEncodedInTarget };
    const { loc, conf } = syntheticOutputs(40 + nms.topK, 1500, 2);
    expect(compareDetections(spec, loc, conf, 1, nms)).toBeGreaterThan(10);
  });
});
