// Eltwise: PROD as a chain of Mul, MAX as Max, SUM as Sum (terms with a coefficient other than 1
// multiplied first).
import { fmt } from '../dims';
import { type LayerHandler, type LayerScope, tensorValue } from '../handler';

export const eltwise: LayerHandler = {
  types: ['Eltwise'],
  infer(s: LayerScope) {
    const { layer } = s;
    s.arity([2, Infinity], 1);
    const xs = layer.bottom.map((_, i) => s.tensorInput(i));
    for (const x of xs) if (fmt(x.shape) !== fmt(xs[0].shape)) s.fail(`inputs have different shapes (${xs.map((v) => fmt(v.shape)).join(', ')})`);
    const p = layer.params.eltwise_param ?? {};
    const op = p.operation ?? 'SUM';
    const coeff = p.coeff ?? [];
    if (coeff.length > 0 && (op !== 'SUM' || coeff.length !== xs.length)) s.fail(`coeff needs the SUM operation and one value per bottom (${xs.length}), got ${coeff.length}`);
    return {
      emit(g) {
        let out: string;
        if (op === 'PROD') {
          out = xs[0].tensor;
          for (let i = 1; i < xs.length; i++) {
            const last = i === xs.length - 1;
            out = g.node('Mul', [out, xs[i].tensor], last ? g.topBase(0) : `${layer.name}/mul${i}`, {}, last ? undefined : `${layer.name}/mul${i}`);
          }
        } else if (op === 'MAX') {
          out = g.node('Max', xs.map((x) => x.tensor), g.topBase(0));
        } else {
          const terms = xs.map((x, i) => {
            const k = coeff.length > 0 ? coeff[i] : 1;
            if (k === 1) return x.tensor;
            const kName = g.floatConst(`${layer.name}/coeff${i}`, [], [k]);
            return g.node('Mul', [x.tensor, kName], `${layer.name}/term${i}`, {}, `${layer.name}/term${i}`);
          });
          out = g.node('Sum', terms, g.topBase(0));
        }
        return [tensorValue(out, xs[0].shape)];
      },
    };
  },
};
