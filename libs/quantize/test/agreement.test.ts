// Matching INT8 detections to fp32 ones: same class, IoU >= 0.85, |score delta| <= 0.05 for every
// fp32 detection scored >= 0.5 (one INT8 detection per reference), extras counted, and the
// agreement ratio found / (references + extras).
import type { Detection } from '@edge-ssd/ssd-core';
import { compareDetections, iou, summarise } from '../src/agreement';

const det = (classId: number, score: number, xmin: number, ymin: number, xmax: number, ymax: number): Detection => ({ classId, label: String(classId), score, xmin, ymin, xmax, ymax });
const C = { minScore: 0.5, minIou: 0.85, scoreTolerance: 0.05 };

describe('iou', () => {
  it('is intersection over union, 0 for disjoint or touching boxes', () => {
    expect(iou(det(1, 1, 0, 0, 1, 1), det(1, 1, 0, 0, 1, 1))).toBe(1);
    expect(iou(det(1, 1, 0, 0, 2, 1), det(1, 1, 1, 0, 3, 1))).toBeCloseTo(1 / 3, 12);
    expect(iou(det(1, 1, 0, 0, 1, 1), det(1, 1, 1, 0, 2, 1))).toBe(0);
  });
});

describe('compareDetections', () => {
  it('finds a reference by class, IoU and score; reports the closest match even when it misses', () => {
    const fp32 = [det(1, 0.9, 0, 0, 1, 1), det(1, 0.6, 2, 2, 3, 3), det(2, 0.55, 0, 0, 1, 1), det(1, 0.3, 5, 5, 6, 6)];
    const int8 = [
      det(1, 0.88, 0, 0, 1, 0.95), // IoU 0.95, delta 0.02: found
      det(1, 0.52, 2, 2, 3, 3), // delta 0.08: not found, and an extra
      det(1, 0.56, 0, 0, 1, 1), // class 1, not 2: finds nothing, and an extra
    ];
    const r = compareDetections('x.jpg', fp32, int8, C);
    expect(r).toEqual({ file: 'x.jpg', references: 3, found: 1, extras: 2, minIou: 0, maxScoreDelta: expect.any(Number) });
    // The class-2 reference has no class-2 candidate at all: IoU 0, delta its own score.
    expect(r.maxScoreDelta).toBeCloseTo(0.55, 12);
  });

  it('lets one INT8 detection find one reference only', () => {
    const fp32 = [det(1, 0.9, 0, 0, 1, 1), det(1, 0.88, 0, 0, 1, 0.99)];
    const r = compareDetections('x', fp32, [det(1, 0.89, 0, 0, 1, 1)], C);
    expect([r.references, r.found, r.extras]).toEqual([2, 1, 0]);
  });

  it('does not count as extra an INT8 detection >= 0.5 matching an fp32 one just below 0.5', () => {
    const r = compareDetections('x', [det(1, 0.48, 0, 0, 1, 1)], [det(1, 0.51, 0, 0, 1, 1)], C);
    expect([r.references, r.found, r.extras]).toEqual([0, 0, 0]);
    const far = compareDetections('x', [det(1, 0.4, 0, 0, 1, 1)], [det(1, 0.51, 0, 0, 1, 1)], C);
    expect(far.extras).toBe(1);
  });
});

describe('summarise', () => {
  it('adds the images up: ratio found / (references + extras), 1 when there is nothing to find', () => {
    const a = compareDetections('a', [det(1, 0.9, 0, 0, 1, 1)], [det(1, 0.9, 0, 0, 1, 1)], C);
    const b = compareDetections('b', [det(1, 0.9, 0, 0, 1, 1)], [det(1, 0.7, 0, 0, 1, 1), det(1, 0.9, 3, 3, 4, 4)], C);
    const s = summarise([a, b], C);
    expect([s.references, s.found, s.extras, s.ratio]).toEqual([2, 1, 2, 0.25]);
    expect(s.minIou).toBe(1);
    expect(s.maxScoreDelta).toBeCloseTo(0.2, 12);
    expect(summarise([compareDetections('c', [], [], C)], C).ratio).toBe(1);
  });
});
