import { toDetectOptions } from '../src/service/detect-options';

const wire = { scoreThreshold: 0, iouThreshold: 0, topK: 0, keepTopK: 0, classIds: [] as number[] };
const limits = { maxTopK: 200, maxKeepTopK: 200 };

describe('request options', () => {
  it('treat 0 and empty as the model default', () => {
    expect(toDetectOptions(wire, 21, limits)).toEqual({});
    expect(toDetectOptions(null, 21, limits)).toEqual({});
  });

  it('pass explicit values through', () => {
    expect(toDetectOptions({ scoreThreshold: 0.5, iouThreshold: 0.3, topK: 50, keepTopK: 10, classIds: [15, 7] }, 21, limits)).toEqual({
      scoreThreshold: 0.5,
      iouThreshold: 0.3,
      topK: 50,
      keepTopK: 10,
      classIds: [15, 7],
    });
  });

  it('reject thresholds out of range and unknown classes', () => {
    expect(() => toDetectOptions({ ...wire, scoreThreshold: 1 }, 21, limits)).toThrow('score_threshold must be in [0, 1)');
    expect(() => toDetectOptions({ ...wire, scoreThreshold: NaN }, 21, limits)).toThrow('score_threshold');
    expect(() => toDetectOptions({ ...wire, iouThreshold: -0.1 }, 21, limits)).toThrow('iou_threshold');
    expect(() => toDetectOptions({ ...wire, classIds: [3, 21] }, 21, limits)).toThrow('class_ids contains 21');
  });

  it('refuse top_k and keep_top_k over the server maxima, and more class ids than classes', () => {
    expect(toDetectOptions({ ...wire, topK: 200, keepTopK: 200 }, 21, limits)).toEqual({ topK: 200, keepTopK: 200 });
    expect(() => toDetectOptions({ ...wire, topK: 2 ** 32 - 1 }, 21, limits)).toThrow('top_k must be at most 200, got 4294967295');
    expect(() => toDetectOptions({ ...wire, keepTopK: 201 }, 21, limits)).toThrow('keep_top_k must be at most 200, got 201');
    expect(() => toDetectOptions({ ...wire, classIds: Array<number>(22).fill(1) }, 21, limits)).toThrow('class_ids has 22 entries, but the model has 21 classes');
  });

  it('accept the edges of each range: score just under 1, iou 1, the last class id, as many class ids as classes', () => {
    expect(toDetectOptions({ ...wire, scoreThreshold: 0.999, iouThreshold: 1, classIds: [20] }, 21, limits)).toEqual({ scoreThreshold: 0.999, iouThreshold: 1, classIds: [20] });
    const all = Array.from({ length: 21 }, (_, i) => i);
    expect(toDetectOptions({ ...wire, classIds: all }, 21, limits)).toEqual({ classIds: all });
  });

  it('reject negative and non-finite thresholds', () => {
    expect(() => toDetectOptions({ ...wire, scoreThreshold: -0.01 }, 21, limits)).toThrow('score_threshold must be in [0, 1), got -0.01');
    expect(() => toDetectOptions({ ...wire, scoreThreshold: Infinity }, 21, limits)).toThrow('score_threshold must be in [0, 1), got Infinity');
    expect(() => toDetectOptions({ ...wire, iouThreshold: 1.0001 }, 21, limits)).toThrow('iou_threshold must be in [0, 1], got 1.0001');
    expect(() => toDetectOptions({ ...wire, iouThreshold: NaN }, 21, limits)).toThrow('iou_threshold must be in [0, 1], got NaN');
  });

  it('check class ids against the class count it is given (the model\'s), not a fixed one', () => {
    expect(toDetectOptions({ ...wire, classIds: [2] }, 3, limits)).toEqual({ classIds: [2] });
    expect(() => toDetectOptions({ ...wire, classIds: [3] }, 3, limits)).toThrow('class_ids contains 3, but the model has 3 classes');
  });
});
