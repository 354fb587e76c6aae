// Summaries of repeated measurements: a median with its spread, never a lone figure.

export interface Summary {
  n: number;
  median: number;
  p99: number;
  min: number;
  max: number;
  /** Inter-quartile range: the middle half of the samples lies within it. */
  iqr: number;
}

export function quantile(sorted: ArrayLike<number>, q: number): number {
  if (sorted.length === 0) return NaN;
  // Linear interpolation between closest ranks (type 7, as numpy's default).
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}

export function summarize(samples: readonly number[]): Summary {
  const sorted = [...samples].sort((a, b) => a - b);
  return {
    n: sorted.length,
    median: quantile(sorted, 0.5),
    p99: quantile(sorted, 0.99),
    min: sorted[0] ?? NaN,
    max: sorted[sorted.length - 1] ?? NaN,
    iqr: quantile(sorted, 0.75) - quantile(sorted, 0.25),
  };
}

/** `a / b` of two medians, the only kind of comparison this noisy machine supports. */
export function ratio(a: Summary, b: Summary): number {
  return a.median / b.median;
}

export function elapsedMs(started: bigint): number {
  return Number(process.hrtime.bigint() - started) / 1e6;
}
