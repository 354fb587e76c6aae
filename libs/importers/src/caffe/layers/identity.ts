// Layers that are identities at inference: Split (one value under several names) and Dropout
// (except with scale_train: false, where Caffe scales at test time).
import { type LayerHandler, type LayerScope, tensorValue } from '../handler';

export const dropout: LayerHandler = {
  types: ['Dropout'],
  infer(s: LayerScope) {
    const { layer } = s;
    s.arity(1, 1);
    const x = s.tensorInput(0);
    const p = layer.params.dropout_param ?? {};
    if (p.scale_train !== false) return { emit: () => [x] };
    // y = x * (1 - ratio).
    return {
      emit(g) {
        const k = g.floatConst(`${layer.name}/scale`, [], [1 - (p.dropout_ratio ?? 0.5)]);
        return [tensorValue(g.node('Mul', [x.tensor, k], g.topBase(0)), x.shape)];
      },
    };
  },
};

export const split: LayerHandler = {
  types: ['Split'],
  infer(s: LayerScope) {
    s.arity(1, s.layer.top.length);
    const x = s.input(0);
    return { emit: () => s.layer.top.map(() => x) };
  },
};
