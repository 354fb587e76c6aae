// InnerProduct -> Gemm (after a Flatten when the input is not 2-D).
import { product } from '../dims';
import { type LayerHandler, type LayerScope, tensorValue } from '../handler';

export const innerProduct: LayerHandler = {
  types: ['InnerProduct'],
  infer(s: LayerScope) {
    const { layer } = s;
    s.arity(1, 1);
    const x = s.tensorInput(0);
    const p = layer.params.inner_product_param ?? {};
    const rank = x.shape.length;
    const axis = (p.axis ?? 1) < 0 ? (p.axis ?? 1) + rank : (p.axis ?? 1);
    if (axis !== 1) s.fail(`axis ${p.axis} is not supported (only 1)`);
    const outN = p.num_output ?? 0;
    if (!(outN > 0)) s.fail('num_output must be > 0');
    const K = product(x.shape.slice(1));
    const transpose = p.transpose ?? false;
    const bias = p.bias_term ?? true;
    const wShape = transpose ? [K, outN] : [outN, K];
    return {
      weights: [{ layer, blobs: [{ role: 'weight', shape: wShape }, ...(bias ? [{ role: 'bias', shape: [outN] }] : [])] }],
      emit(g, [weight, biasBlob]) {
        let input = x.tensor;
        if (rank !== 2) input = g.node('Flatten', [input], `${layer.name}/flatten`, { axis: 1 }, `${layer.name}/flatten`);
        const inputs = [input, g.rawTensor(`${layer.name}/W`, wShape, weight)];
        if (bias) inputs.push(g.rawTensor(`${layer.name}/B`, [outN], biasBlob));
        return [tensorValue(g.node('Gemm', inputs, g.topBase(0), { transB: transpose ? 0 : 1 }), [x.shape[0], outN])];
      },
    };
  },
};
