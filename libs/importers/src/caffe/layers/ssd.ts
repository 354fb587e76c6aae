// PriorBox and DetectionOutput are not graph nodes: their parameters become the model's SSD spec
// (ssd-spec.ts), each PriorBox head's feature-map size taken from shape inference. PriorBox
// outputs travel as priors values (through Concat on axis 2) to the DetectionOutput, whose top
// stands for the SSD outputs the walk adds at the end.
import { MOBILENET_SSD_VOC_300, type PriorBoxHead, SsdSpecError, parseSsdSpec, priorBoxHeadCount } from '@edge-ssd/ssd-core';
import type { LayerHandler, LayerScope } from '../handler';

export const priorBox: LayerHandler = {
  types: ['PriorBox'],
  infer(s: LayerScope) {
    const { layer } = s;
    s.arity(2, 1);
    const fmap = s.tensorInput(0, 4);
    const image = s.tensorInput(1, 4);
    const p = layer.params.prior_box_param ?? {};
    const head: PriorBoxHead = { featureMap: [fmap.shape[2], fmap.shape[3]], minSizes: [...(p.min_size ?? [])] };
    if ((p.max_size?.length ?? 0) > 0) head.maxSizes = [...(p.max_size as number[])];
    if ((p.aspect_ratio?.length ?? 0) > 0) head.aspectRatios = [...(p.aspect_ratio as number[])];
    head.flip = p.flip ?? true;
    head.clip = p.clip ?? false;
    head.variance = (p.variance?.length ?? 0) > 0 ? [...(p.variance as number[])] : [0.1];
    head.offset = p.offset ?? 0.5;
    if (p.step !== undefined) head.step = p.step;
    if (p.step_h !== undefined) head.stepH = p.step_h;
    if (p.step_w !== undefined) head.stepW = p.step_w;
    if (p.img_size !== undefined) head.imgSize = p.img_size;
    if (p.img_h !== undefined) head.imgH = p.img_h;
    if (p.img_w !== undefined) head.imgW = p.img_w;
    if (head.minSizes.length === 0) s.fail('needs at least one min_size');
    let count: number;
    try {
      // The spec's own validation, on a spec holding just this head.
      const checked = parseSsdSpec({ ...MOBILENET_SSD_VOC_300, priors: { kind: 'priorbox', heads: [head] } });
      count = priorBoxHeadCount((checked.priors as { heads: PriorBoxHead[] }).heads[0]);
    } catch (err) {
      if (err instanceof SsdSpecError) s.fail(`invalid prior_box_param: ${err.message.replace(/^priors\.heads\[0\]\.?/, '')}`);
      throw err;
    }
    const shape = [1, 2, fmap.shape[2] * fmap.shape[3] * count * 4];
    return { emit: () => [{ kind: 'priors', heads: [{ head, layer, image: [image.shape[2], image.shape[3]] }], shape }] };
  },
};

export const detectionOutput: LayerHandler = {
  types: ['DetectionOutput'],
  infer(s: LayerScope) {
    const { layer } = s;
    if (s.detectionOutput) s.fail(`a second DetectionOutput layer (the first is '${s.detectionOutput.name}'); only one is supported`);
    s.arity([3, 3], 1);
    const loc = s.tensorInput(0);
    const conf = s.tensorInput(1);
    const priors = s.input(2);
    if (priors.kind !== 'priors') s.fail(`its third bottom '${layer.bottom[2]}' is not made of PriorBox outputs`);
    return { emit: () => [{ kind: 'detections', layer, loc, conf, priors }] };
  },
};
