// The ModelInfo the detector answers with, from the model it loaded.
import type { ModelInfo } from '@edge-ssd/protos';
import { countPriors } from '@edge-ssd/ssd-core';
import type { LoadedModel } from '@edge-ssd/ssd-pipeline';

export function modelInfo(model: LoadedModel): ModelInfo {
  const { spec } = model;
  return {
    name: spec.name,
    sha256: model.sha256,
    inputWidth: spec.input.width,
    inputHeight: spec.input.height,
    labels: [...spec.labels],
    bnFused: model.bnFused,
    numPriors: countPriors(spec),
    precision: model.precision,
  };
}
