// Layers that move values without computing: Concat (of tensors, or of PriorBox outputs on axis
// 2), Permute, Flatten and Reshape. Every Reshape keeps the batch dimension dynamic.
import { fmt, product } from '../dims';
import { type LayerHandler, type LayerScope, type PriorsValue, type TensorValue, priorsRead, tensorValue } from '../handler';
import { canonicalAxis } from './params';

export const concat: LayerHandler = {
  types: ['Concat'],
  infer(s: LayerScope) {
    const { layer } = s;
    s.arity([1, Infinity], 1);
    const xs = layer.bottom.map((_, i) => s.input(i));
    const p = layer.params.concat_param ?? {};
    const rank = xs[0].shape.length;
    const axis = p.axis === undefined && p.concat_dim !== undefined ? p.concat_dim : canonicalAxis(s, p.axis ?? 1, rank);
    if (axis >= rank) s.fail(`concat_dim ${axis} is out of range for a ${rank}-D input`);
    const priors = xs.filter((x): x is PriorsValue => x.kind === 'priors');
    if (priors.length > 0) {
      if (priors.length !== xs.length) s.fail('mixes PriorBox outputs with other blobs');
      if (rank !== 3 || axis !== 2) s.fail(`concatenates PriorBox outputs on axis ${axis}; only axis 2 keeps them prior boxes`);
    }
    for (const x of xs) {
      const same = x.shape.length === rank && x.shape.every((d, k) => k === axis || d === xs[0].shape[k]);
      if (!same) s.fail(`input shapes ${xs.map((v) => fmt(v.shape)).join(', ')} do not match outside axis ${axis}`);
    }
    const shape = [...xs[0].shape];
    shape[axis] = xs.reduce((sum, x) => sum + x.shape[axis], 0);
    if (priors.length > 0) return { emit: () => [{ kind: 'priors', heads: priors.flatMap((v) => v.heads), shape }] };
    return { emit: (g) => [tensorValue(g.node('Concat', xs.map((x) => (x as TensorValue).tensor), g.topBase(0), { axis }), shape)] };
  },
};

export const permute: LayerHandler = {
  types: ['Permute'],
  infer(s: LayerScope) {
    s.arity(1, 1);
    const x = s.tensorInput(0);
    const rank = x.shape.length;
    const order: number[] = [];
    for (const o of s.layer.params.permute_param?.order ?? []) {
      if (o >= rank) s.fail(`order ${o} is out of range for a ${rank}-D input`);
      if (order.includes(o)) s.fail(`order ${o} is listed twice`);
      order.push(o);
    }
    // PermuteLayer: axes not listed follow in increasing order.
    for (let a = 0; a < rank; a++) if (!order.includes(a)) order.push(a);
    if (order.every((a, i) => a === i)) return { emit: () => [x] };
    if (order[0] !== 0) s.fail('a Permute that moves the batch axis is not supported');
    const shape = order.map((a) => x.shape[a]);
    return { emit: (g) => [tensorValue(g.node('Transpose', [x.tensor], g.topBase(0), { perm: order }), shape)] };
  },
};

export const flatten: LayerHandler = {
  types: ['Flatten'],
  infer(s: LayerScope) {
    const { layer } = s;
    s.arity(1, 1);
    const x = s.input(0);
    const rank = x.shape.length;
    const p = layer.params.flatten_param ?? {};
    const start = canonicalAxis(s, p.axis ?? 1, rank);
    const end = canonicalAxis(s, p.end_axis ?? -1, rank, 'end_axis');
    if (end < start) s.fail(`end_axis ${p.end_axis} comes before axis ${p.axis}`);
    const shape = [...x.shape.slice(0, start), product(x.shape.slice(start, end + 1)), ...x.shape.slice(end + 1)];
    if (x.kind === 'priors') s.fail(priorsRead(layer.bottom[0]));
    return {
      emit(g) {
        const whole = start === 1 && end === rank - 1;
        const out = whole ? g.node('Flatten', [x.tensor], g.topBase(0), { axis: 1 }) : g.reshape(x, [...Array(start).fill(0), -1, ...x.shape.slice(end + 1)], g.topBase(0));
        return [tensorValue(out, shape)];
      },
    };
  },
};

export const reshape: LayerHandler = {
  types: ['Reshape'],
  infer(s: LayerScope) {
    s.arity(1, 1);
    const x = s.tensorInput(0);
    const rank = x.shape.length;
    const p = s.layer.params.reshape_param ?? {};
    const spec = p.shape?.dim ?? [];
    const axis = p.axis ?? 0;
    const numAxes = p.num_axes ?? -1;
    // ReshapeLayer::Reshape.
    const start = axis >= 0 ? axis : rank + axis + 1;
    if (start < 0 || start > rank) s.fail(`axis ${axis} is out of range for a ${rank}-D input`);
    if (numAxes < -1) s.fail(`num_axes must be >= -1, got ${numAxes}`);
    const end = numAxes === -1 ? rank : start + numAxes;
    if (end > rank) s.fail(`axis ${axis} + num_axes ${numAxes} is out of range for a ${rank}-D input`);
    if (spec.filter((d) => d === -1).length > 1) s.fail('more than one dimension is -1');
    if (spec.some((d) => d < -1)) s.fail(`shape ${fmt(spec)} has a dimension below -1`);
    const mid = spec.map((d, i) => {
      if (d !== 0) return d;
      if (start + i >= rank) s.fail(`dimension ${i} is 0 (copy) but the input has no axis ${start + i}`);
      return x.shape[start + i];
    });
    const fixed = [...x.shape.slice(0, start), ...mid, ...x.shape.slice(end)];
    const known = product(fixed.filter((d) => d !== -1));
    const total = product(x.shape);
    if (spec.includes(-1)) {
      if (known === 0 || total % known !== 0) s.fail(`cannot reshape ${fmt(x.shape)} to ${fmt(fixed)}`);
    } else if (known !== total) {
      s.fail(`cannot reshape ${fmt(x.shape)} (${total} values) to ${fmt(fixed)} (${known})`);
    }
    const shape = fixed.map((d) => (d === -1 ? total / known : d));
    // ONNX dims: 0 copies the input dim at the same index, which is exactly Caffe's meaning for the
    // kept leading axes and for 0 entries (output index == input index). A literal first dim that
    // equals the batch size also becomes 0, so the model keeps a dynamic batch.
    const onnx = [...Array(start).fill(0), ...spec.map((d, i) => (d === 0 ? 0 : start + i === 0 && d > 0 && d === x.shape[0] ? 0 : d)), ...x.shape.slice(end)];
    return { emit: (g) => [tensorValue(g.reshape(x, onnx, g.topBase(0)), shape)] };
  },
};
