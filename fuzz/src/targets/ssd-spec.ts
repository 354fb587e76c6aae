// The SSD spec parser (ssd-core) on untrusted model metadata: parseSsdSpec on the JSON text, the
// same through specFromMetadata, and the canonical form (serializeSsdSpec) must be a fixed point:
// a spec that parses must serialise, parse back and serialise to the same text; and its priors
// must be buildable (an accepted spec once declared featureMap [30000, 30000] and made buildPriors
// throw; the spec validation now caps the prior count).
import { MAX_PRIORS, MOBILENET_SSD_VOC_300, SSD_SPEC_METADATA_KEY, SsdSpecError, buildPriors, countPriors, parseSsdSpec, serializeSsdSpec, specFromMetadata } from '@edge-ssd/ssd-core';
import { defineTarget } from '../harness';

export const target = defineTarget({
  expected: [SsdSpecError],
  run(data) {
    const text = data.toString('utf8');
    const spec = parseSsdSpec(text);
    specFromMetadata({ [SSD_SPEC_METADATA_KEY]: text });
    const canonical = serializeSsdSpec(spec);
    if (serializeSsdSpec(parseSsdSpec(canonical)) !== canonical) throw new Error(`serializeSsdSpec is not a fixed point for ${canonical}`);
    if (countPriors(spec) > MAX_PRIORS) throw new Error(`accepted a spec of ${countPriors(spec)} priors`);
    // Small enough to build at once: building proves the accepted spec is usable.
    if (countPriors(spec) <= 100_000) buildPriors(spec);
  },
});

export const fuzz = target.fuzz;

/** The VOC spec, a prior-table spec, and one using every optional PriorBox field. */
export function seeds(): Record<string, Uint8Array> {
  const table = {
    ...MOBILENET_SSD_VOC_300,
    name: 'table',
    input: { ...MOBILENET_SSD_VOC_300.input, resize: 'letterbox', channelOrder: 'RGB' },
    labels: ['background', 'face'],
    priors: { kind: 'table', boxes: [0, 0, 0.5, 0.5, 0.25, 0.25, 1, 1], variances: [0.1, 0.1, 0.2, 0.2] },
    codeType: 'CORNER',
  };
  const head = { featureMap: [3, 2], minSizes: [30, 60], maxSizes: [45, 90], aspectRatios: [2, 3], flip: false, clip: true, variance: [0.1], offset: 0.25, stepH: 8, stepW: 10, imgH: 24, imgW: 20 };
  const heads = { ...MOBILENET_SSD_VOC_300, name: 'heads', priors: { kind: 'priorbox', heads: [head, { featureMap: [1, 1], minSizes: [10], step: 4, imgSize: 16 }] } };
  return {
    'voc-300.json': Buffer.from(serializeSsdSpec(MOBILENET_SSD_VOC_300)),
    'table.json': Buffer.from(JSON.stringify(table)),
    'heads.json': Buffer.from(JSON.stringify(heads)),
  };
}
