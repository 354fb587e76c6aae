// Seeded synthetic MobileNet-SSD outputs with a chosen number of candidates above the score
// threshold: realistic inputs for post-processing benchmarks and tests, no network needed.
import { Prng } from '@edge-ssd/prng';
import { MOBILENET_SSD_VOC_300 } from '../spec';

/**
 * Synthetic outputs: every prior's row sums to 1 with background taking what is left. `hot`
 * priors get `perPrior` classes with scores in (0.26, 0.48); all others stay below 0.05.
 */
export function syntheticOutputs(seed: number, hotPriors: number, perPrior: number): { loc: Float32Array; conf: Float32Array; candidates: number } {
  const spec = MOBILENET_SSD_VOC_300;
  const P = 1917;
  const C = spec.labels.length;
  const prng = new Prng(seed);
  const rand = (): number => prng.next();
  const loc = new Float32Array(P * 4);
  for (let i = 0; i < loc.length; i++) loc[i] = (rand() * 2 - 1) * 1.5;
  const conf = new Float32Array(P * C);
  const hot = new Set<number>();
  while (hot.size < hotPriors) hot.add(Math.floor(rand() * P));
  let candidates = 0;
  for (let p = 0; p < P; p++) {
    let rest = 1;
    for (let c = 1; c < C; c++) {
      conf[p * C + c] = rand() * 0.002;
      rest -= conf[p * C + c];
    }
    if (hot.has(p)) {
      const chosen = new Set<number>();
      while (chosen.size < perPrior) chosen.add(1 + Math.floor(rand() * (C - 1)));
      for (const c of chosen) {
        const s = 0.26 + rand() * 0.22;
        rest -= s - conf[p * C + c];
        conf[p * C + c] = s;
      }
    }
    conf[p * C] = rest;
    for (let c = 1; c < C; c++) if (conf[p * C + c] > spec.nms.scoreThreshold) candidates++;
  }
  return { loc, conf, candidates };
}
