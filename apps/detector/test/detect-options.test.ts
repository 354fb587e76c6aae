import { toDetectOptions } from '../src/service/detect-options';

const wire = { scoreThreshold: 0, iouThreshold: 0, topK: 0, keepTopK: 0, classIds: [] as number[] };

describe('request options', () => {
  it('treat 0 and empty as the model default', () => {
    expect(toDetectOptions(wire, 21)).toEqual({});
    expect(toDetectOptions(null, 21)).toEqual({});
  });

  it('pass explicit values through', () => {
    expect(toDetectOptions({ scoreThreshold: 0.5, iouThreshold: 0.3, topK: 50, keepTopK: 10, classIds: [15, 7] }, 21)).toEqual({
      scoreThreshold: 0.5,
      iouThreshold: 0.3,
      topK: 50,
      keepTopK: 10,
      classIds: [15, 7],
    });
  });

  it('reject thresholds out of range and unknown classes', () => {
    expect(() => toDetectOptions({ ...wire, scoreThreshold: 1 }, 21)).toThrow('score_threshold must be in [0, 1)');
    expect(() => toDetectOptions({ ...wire, scoreThreshold: NaN }, 21)).toThrow('score_threshold');
    expect(() => toDetectOptions({ ...wire, iouThreshold: -0.1 }, 21)).toThrow('iou_threshold');
    expect(() => toDetectOptions({ ...wire, classIds: [3, 21] }, 21)).toThrow('class_ids contains 21');
  });
});
