// Per-tensor statistics and the three ways of turning them into a range. Min/max is exact; the
// percentile and entropy methods work on a histogram of |x| over [0, max|x|] whose edges are fixed
// by a first min/max pass, so the result does not depend on the order of the images.

const HISTOGRAM_BINS = 2048;
/** Entropy method: quantized levels over [0, t]: uint8 for a non-negative tensor, half of it for |x| of a signed one. */
const LEVELS_UNSIGNED = 255;
const LEVELS_SIGNED = 128;

export class TensorStats {
  min = Infinity;
  max = -Infinity;
  histogram: Float64Array | undefined;
  private width = 0;

  observeMinMax(data: Float32Array): void {
    let { min, max } = this;
    for (let i = 0; i < data.length; i++) {
      const v = data[i];
      if (v < min) min = v;
      if (v > max) max = v;
    }
    this.min = min;
    this.max = max;
  }

  /** The largest |x| seen in the min/max pass; the histogram spans [0, that]. */
  get absMax(): number {
    return Math.max(Math.abs(this.min), Math.abs(this.max));
  }

  observeHistogram(data: Float32Array): void {
    if (!this.histogram) {
      this.histogram = new Float64Array(HISTOGRAM_BINS);
      this.width = this.absMax / HISTOGRAM_BINS;
    }
    const h = this.histogram;
    const width = this.width;
    if (width === 0) {
      h[0] += data.length;
      return;
    }
    const last = HISTOGRAM_BINS - 1;
    for (let i = 0; i < data.length; i++) {
      const bin = Math.floor(Math.abs(data[i]) / width);
      h[bin > last ? last : bin]++;
    }
  }

  /** Clamps a symmetric threshold t to the observed range: [max(min, -t), min(max, t)]. */
  private clamp(t: number): [number, number] {
    return [Math.max(this.min, -t), Math.min(this.max, t)];
  }

  minmax(): [number, number] {
    return [this.min, this.max];
  }

  /** The smallest bin edge below which `percent` % of |x| lies. */
  percentile(percent: number): [number, number] {
    const h = this.requireHistogram();
    const total = h.reduce((a, b) => a + b, 0);
    const target = (total * percent) / 100;
    let sum = 0;
    for (let i = 0; i < h.length; i++) {
      sum += h[i];
      if (sum >= target) return this.clamp((i + 1) * this.width);
    }
    return this.minmax();
  }

  /**
   * The threshold whose 128-level quantization loses the least information: the KL divergence
   * between the histogram clipped at the threshold (outliers folded into its last bin) and that
   * histogram merged into as many levels as the quantized type has and spread back over the bins
   * that were not empty (TensorRT's calibration, as onnxruntime's entropy calibrator does it).
   * After a ReLU most values are exactly 0: that spike in the first bin would dominate the
   * divergence and pull the threshold far too low (measured here: ranges of 0.7 for ReLU6
   * outputs, every face lost), so the first bin is weighted like the second.
   */
  entropy(): [number, number] {
    const h = Float64Array.from(this.requireHistogram());
    h[0] = h[1];
    const levels = this.min >= 0 ? LEVELS_UNSIGNED : LEVELS_SIGNED;
    let best = h.length;
    let bestDivergence = Infinity;
    for (let i = levels; i <= h.length; i++) {
      const d = divergenceAt(h, i, levels);
      if (d < bestDivergence) {
        bestDivergence = d;
        best = i;
      }
    }
    return this.clamp(best * this.width);
  }

  private requireHistogram(): Float64Array {
    if (!this.histogram) throw new Error('no histogram collected');
    return this.histogram;
  }
}

function divergenceAt(h: Float64Array, bins: number, levels: number): number {
  const p = Float64Array.from(h.subarray(0, bins));
  for (let j = bins; j < h.length; j++) p[bins - 1] += h[j];
  const q = new Float64Array(bins);
  const per = bins / levels;
  for (let k = 0; k < levels; k++) {
    const start = Math.floor(k * per);
    const end = k === levels - 1 ? bins : Math.floor((k + 1) * per);
    let sum = 0;
    let nonZero = 0;
    for (let j = start; j < end; j++) {
      sum += h[j];
      if (p[j] !== 0) nonZero++;
    }
    if (nonZero === 0) continue;
    for (let j = start; j < end; j++) if (p[j] !== 0) q[j] = sum / nonZero;
  }
  let pSum = 0;
  let qSum = 0;
  for (let j = 0; j < bins; j++) {
    pSum += p[j];
    qSum += q[j];
  }
  if (pSum === 0 || qSum === 0) return Infinity;
  let d = 0;
  for (let j = 0; j < bins; j++) {
    if (p[j] === 0) continue;
    const pj = p[j] / pSum;
    // Mass in p but none in q (a last bin holding only folded outliers): a large penalty.
    const qj = q[j] > 0 ? q[j] / qSum : 1e-12;
    d += pj * Math.log(pj / qj);
  }
  return d;
}
