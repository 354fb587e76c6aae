// The QDQ arithmetic: per-channel symmetric weights within half a step of the float ones, uint8
// activation parameters that keep 0 exact and stay under an absorbed Clip's bound, and int32 bias
// scaled by input_scale x weight_scale as QLinearConv assumes.
import { Prng } from '@edge-ssd/prng';
import { activationParams, quantizeBias, quantizeWeights, roundHalfEven } from '../src/params';

describe('quantizeWeights (per output channel, symmetric int8)', () => {
  it('round-trips every weight within half a quantization step of its channel, in [-127, 127]', () => {
    const rng = new Prng(3);
    const channels = 16;
    const per = 3 * 3 * 8;
    // Channels of very different magnitudes: a per-tensor scale would flatten the small ones.
    const w = Float32Array.from({ length: channels * per }, (_, i) => rng.uniform(-1, 1) * 10 ** (Math.floor(i / per) % 5 - 3));
    const q = quantizeWeights(w, channels);
    for (let c = 0; c < channels; c++) {
      let absMax = 0;
      for (let i = c * per; i < (c + 1) * per; i++) absMax = Math.max(absMax, Math.abs(w[i]));
      expect(q.scales[c]).toBe(Math.fround(absMax / 127));
      for (let i = c * per; i < (c + 1) * per; i++) {
        expect(Math.abs(q.values[i])).toBeLessThanOrEqual(127);
        expect(Math.abs(w[i] - q.values[i] * q.scales[c])).toBeLessThanOrEqual(q.scales[c] / 2 + 1e-7 * absMax);
      }
    }
    expect(Math.min(...q.values)).toBeGreaterThanOrEqual(-127);
  });

  it('gives an all-zero channel scale 1 and zeros', () => {
    const q = quantizeWeights([0, 0, 0, 1, -2, 0.5], 2);
    expect(Array.from(q.scales)).toEqual([1, Math.fround(2 / 127)]);
    expect(Array.from(q.values)).toEqual([0, 0, 0, 64, -127, 32]);
  });
});

describe('activationParams (uint8, asymmetric)', () => {
  it('widens the range to hold 0 and maps 0 to an exact zero point', () => {
    expect(activationParams(0.5, 2)).toEqual({ scale: Math.fround(2 / 255), zeroPoint: 0 });
    const p = activationParams(-1, 3);
    expect(p.scale).toBe(Math.fround(4 / 255));
    expect(p.zeroPoint).toBe(roundHalfEven(Math.fround(1 / p.scale)));
    expect(activationParams(-2, -1)).toEqual({ scale: Math.fround(2 / 255), zeroPoint: 255 });
  });

  it("keeps 255 x scale at or below an absorbed Clip's bound (onnxruntime removes the Clip only then)", () => {
    const bound = Math.fround(7.97);
    // Without the bound, float32 rounding of 7.97 / 255 lands above it.
    expect(Math.fround(255 * activationParams(0, bound).scale)).toBeGreaterThan(bound);
    const p = activationParams(0, bound, bound);
    expect(p.zeroPoint).toBe(0);
    expect(Math.fround(255 * p.scale)).toBeLessThanOrEqual(bound);
    expect(bound - 255 * p.scale).toBeLessThan(1e-5);
    expect(activationParams(0, 6, 6)).toEqual(activationParams(0, 6));
  });

  it('gives an empty range scale 1', () => {
    expect(activationParams(0, 0)).toEqual({ scale: 1, zeroPoint: 0 });
  });
});

describe('quantizeBias (int32)', () => {
  it('uses scale fround(input_scale x weight_scale[c]) and rounds half to even', () => {
    const ws = Float32Array.from([0.01, 0.5]);
    const b = quantizeBias([0.3, -1.25], 0.02, ws);
    expect(Array.from(b.scales)).toEqual([Math.fround(0.02 * ws[0]), Math.fround(0.02 * ws[1])]);
    expect(Array.from(b.values)).toEqual([Math.round(0.3 / b.scales[0]), roundHalfEven(-1.25 / b.scales[1])]);
    expect(roundHalfEven(2.5)).toBe(2);
    expect(roundHalfEven(-2.5)).toBe(-2);
    expect(roundHalfEven(3.5)).toBe(4);
  });
});
