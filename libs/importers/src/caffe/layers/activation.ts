// Element-wise activations and Softmax: one node each, the input's shape.
import { type LayerHandler, type LayerScope, tensorValue } from '../handler';
import { canonicalAxis } from './params';

export const relu: LayerHandler = {
  types: ['ReLU'],
  infer(s: LayerScope) {
    s.arity(1, 1);
    const x = s.tensorInput(0);
    const slope = s.layer.params.relu_param?.negative_slope ?? 0;
    return {
      emit(g) {
        const out = slope === 0 ? g.node('Relu', [x.tensor], g.topBase(0)) : g.node('LeakyRelu', [x.tensor], g.topBase(0), { alpha: { float: Math.fround(slope) } });
        return [tensorValue(out, x.shape)];
      },
    };
  },
};

const UNARY_OPS: Readonly<Record<string, string>> = { Sigmoid: 'Sigmoid', TanH: 'Tanh' };

export const sigmoidTanh: LayerHandler = {
  types: Object.keys(UNARY_OPS),
  infer(s: LayerScope) {
    s.arity(1, 1);
    const x = s.tensorInput(0);
    return { emit: (g) => [tensorValue(g.node(UNARY_OPS[s.layer.type], [x.tensor], g.topBase(0)), x.shape)] };
  },
};

export const softmax: LayerHandler = {
  types: ['Softmax'],
  infer(s: LayerScope) {
    s.arity(1, 1);
    const x = s.tensorInput(0);
    const axis = canonicalAxis(s, s.layer.params.softmax_param?.axis ?? 1, x.shape.length);
    return { emit: (g) => [tensorValue(g.node('Softmax', [x.tensor], g.topBase(0), { axis }), x.shape)] };
  },
};
