// Micro-benchmark of SsdPostprocessor.detect on one MobileNet-SSD image (P = 1917, C = 21) with
// seeded synthetic outputs: a typical frame (~10 candidates above the 0.25 threshold) and a
// worst-ish case (~2000 candidates, so every class fills its top_k of 100).

import { MOBILENET_SSD_VOC_300, SsdPostprocessor } from '@edge-ssd/ssd-core';
import { syntheticOutputs } from '@edge-ssd/ssd-core/testing';

interface BenchCase {
  medianMs: number;
  p99Ms: number;
  /** (prior, class) pairs above the score threshold, background excluded. */
  candidates: number;
}

export interface PostprocessBench {
  fewCandidates: BenchCase;
  manyCandidates: BenchCase;
}

function measure(post: SsdPostprocessor, loc: Float32Array, conf: Float32Array, iterations: number): { medianMs: number; p99Ms: number } {
  const warmup = Math.min(200, Math.max(20, iterations >> 2));
  for (let i = 0; i < warmup; i++) post.detect(loc, conf, 1);
  const times = new Float64Array(iterations);
  for (let i = 0; i < iterations; i++) {
    const t0 = process.hrtime.bigint();
    post.detect(loc, conf, 1);
    times[i] = Number(process.hrtime.bigint() - t0) / 1e6;
  }
  times.sort();
  const at = (q: number): number => times[Math.min(iterations - 1, Math.floor(q * iterations))];
  return { medianMs: at(0.5), p99Ms: at(0.99) };
}

export function benchPostprocess(opts: { iterations: number }): PostprocessBench {
  const iterations = Math.max(1, Math.floor(opts.iterations));
  const post = new SsdPostprocessor(MOBILENET_SSD_VOC_300);
  const few = syntheticOutputs(1, 10, 1);
  const many = syntheticOutputs(2, 1000, 2);
  return {
    fewCandidates: { ...measure(post, few.loc, few.conf, iterations), candidates: few.candidates },
    manyCandidates: { ...measure(post, many.loc, many.conf, iterations), candidates: many.candidates },
  };
}
