// BatchNorm, Scale and LRN.
//
// A BatchNorm whose output only feeds a per-channel Scale becomes one ONNX BatchNormalization
// with the Scale's gamma/beta (beta 0 when the Scale has no bias), emitted where the Scale is; a
// BatchNorm alone gets gamma 1, beta 0; a per-channel Scale alone becomes a BatchNormalization
// with mean 0, var 1, eps 0 (so it still folds into a preceding convolution); other Scales become
// Mul (+ Add). The BatchNorm statistics are divided by the scale-factor blob exactly as Caffe does
// it in float32 (factor 0 -> zero statistics). Folding is left to the converter.
import { fmt } from '../dims';
import { type BlobSpec, type LayerHandler, type LayerPlan, type LayerScope, type TensorValue, tensorValue } from '../handler';
import type { Layer } from '../net';

/** Whether `scale`, reading a BatchNorm's rank-`rank` output, can carry its gamma/beta: per channel, one bottom, one top. */
function carriesChannelScale(scale: Layer, rank: number): boolean {
  if (scale.type !== 'Scale' || scale.bottom.length !== 1 || scale.top.length !== 1) return false;
  const p = scale.params.scale_param ?? {};
  const axis = (p.axis ?? 1) < 0 ? (p.axis ?? 1) + rank : (p.axis ?? 1);
  return axis === 1 && (p.num_axes ?? 1) === 1;
}

function statisticsBlobs(channels: number): BlobSpec[] {
  return [
    { role: 'mean', shape: [channels] },
    { role: 'variance', shape: [channels] },
    { role: 'scale factor', shape: [1] },
  ];
}

function scaleBlobs(shape: number[], bias: boolean): BlobSpec[] {
  return [{ role: 'scale', shape }, ...(bias ? [{ role: 'bias', shape }] : [])];
}

/** The BatchNormalization for BatchNorm `s.layer`, with the gamma/beta of `scale` when given. */
function batchNormalization(s: LayerScope, x: TensorValue, scale: Layer | undefined): LayerPlan {
  const bn = s.layer;
  const C = x.shape[1];
  const eps = bn.params.batch_norm_param?.eps ?? 1e-5;
  if (!(eps >= 0) || !Number.isFinite(eps)) s.fail(`eps must be >= 0, got ${eps}`);
  const scaleBias = scale?.params.scale_param?.bias_term ?? false;
  return {
    weights: [{ layer: bn, blobs: statisticsBlobs(C) }, ...(scale ? [{ layer: scale, blobs: scaleBlobs([C], scaleBias) }] : [])],
    emit(g, [meanBlob, varBlob, factorBlob, gammaBlob, betaBlob]) {
      // BatchNormLayer::Forward_cpu in float32: m = (s == 0 ? 0 : 1 / s); mean = m * blob0; var = m * blob1.
      const f = factorBlob.values()[0];
      const m = f === 0 ? 0 : Math.fround(1 / f);
      const meanRaw = meanBlob.values();
      const varRaw = varBlob.values();
      const mean = new Float32Array(C);
      const variance = new Float32Array(C);
      for (let c = 0; c < C; c++) {
        mean[c] = meanRaw[c] * m;
        variance[c] = varRaw[c] * m;
      }
      const base = bn.name;
      let gamma: string;
      let beta: string;
      if (scale) {
        gamma = g.rawTensor(`${base}/gamma`, [C], gammaBlob);
        beta = scaleBias ? g.rawTensor(`${base}/beta`, [C], betaBlob) : g.floatConst(`${base}/beta`, [C], new Float32Array(C));
      } else {
        gamma = g.floatConst(`${base}/gamma`, [C], new Float32Array(C).fill(1));
        beta = g.floatConst(`${base}/beta`, [C], new Float32Array(C));
      }
      const meanName = g.floatConst(`${base}/mean`, [C], mean);
      const varName = g.floatConst(`${base}/var`, [C], variance);
      // eps is a float in caffe.proto: the attribute holds the same float32 value.
      return [tensorValue(g.node('BatchNormalization', [x.tensor, gamma, beta, meanName, varName], bn.name, { epsilon: { float: Math.fround(eps) } }), x.shape)];
    },
  };
}

export const batchNorm: LayerHandler = {
  types: ['BatchNorm'],
  infer(s: LayerScope) {
    s.arity(1, 1);
    const x = s.tensorInput(0);
    if (x.shape.length < 2) s.fail(`needs an input of rank >= 2, got ${fmt(x.shape)}`);
    if (s.layer.params.batch_norm_param?.use_global_stats === false) {
      s.fail('use_global_stats: false (statistics of the batch at inference) is not supported; only the stored global statistics are');
    }
    const scale = s.soleConsumer(0);
    if (scale && carriesChannelScale(scale, x.shape.length)) return { deferTo: scale, resume: () => batchNormalization(s, x, scale) };
    return batchNormalization(s, x, undefined);
  },
};

/** A Scale that no BatchNorm merged into: per channel as a BatchNormalization, otherwise Mul (+ Add). */
export const scale: LayerHandler = {
  types: ['Scale'],
  infer(s: LayerScope) {
    const { layer } = s;
    if (layer.bottom.length === 2) s.fail('a Scale with two bottoms (scale taken from a blob) is not supported');
    s.arity(1, 1);
    const x = s.tensorInput(0);
    const p = layer.params.scale_param ?? {};
    const rank = x.shape.length;
    const axis = (p.axis ?? 1) < 0 ? (p.axis ?? 1) + rank : (p.axis ?? 1);
    const numAxes = p.num_axes ?? 1;
    if (axis < 0 || axis > rank) s.fail(`axis ${p.axis} is out of range for input ${fmt(x.shape)}`);
    const end = numAxes === -1 ? rank : axis + numAxes;
    if (numAxes < -1 || end > rank) s.fail(`num_axes ${numAxes} is out of range for input ${fmt(x.shape)} at axis ${axis}`);
    const pshape = x.shape.slice(axis, end);
    const bias = p.bias_term ?? false;
    return {
      weights: [{ layer, blobs: scaleBlobs(pshape, bias) }],
      emit(g, [gammaBlob, betaBlob]) {
        let out: string;
        if (axis === 1 && pshape.length === 1 && rank >= 2) {
          // Per channel: a BatchNormalization with mean 0, var 1, eps 0 computes gamma * x + beta
          // exactly and folds into a preceding convolution like any other.
          const C = pshape[0];
          const gamma = g.rawTensor(`${layer.name}/gamma`, [C], gammaBlob);
          const beta = bias ? g.rawTensor(`${layer.name}/beta`, [C], betaBlob) : g.floatConst(`${layer.name}/beta`, [C], new Float32Array(C));
          const mean = g.floatConst(`${layer.name}/mean`, [C], new Float32Array(C));
          const variance = g.floatConst(`${layer.name}/var`, [C], new Float32Array(C).fill(1));
          out = g.node('BatchNormalization', [x.tensor, gamma, beta, mean, variance], g.topBase(0), { epsilon: { float: 0 } });
        } else {
          // Broadcast shape: the parameter dims followed by 1s for the axes after them.
          const bshape = [...pshape, ...Array(rank - end).fill(1)];
          const gamma = g.rawTensor(`${layer.name}/gamma`, bshape, gammaBlob);
          out = g.node('Mul', [x.tensor, gamma], bias ? `${layer.name}/mul` : g.topBase(0), {}, bias ? `${layer.name}/mul` : undefined);
          if (bias) out = g.node('Add', [out, g.rawTensor(`${layer.name}/beta`, bshape, betaBlob)], g.topBase(0));
        }
        return [tensorValue(out, x.shape)];
      },
    };
  },
};

/** LRN across channels (LRNLayer): the ONNX operator has the same formula. */
export const lrn: LayerHandler = {
  types: ['LRN'],
  infer(s: LayerScope) {
    s.arity(1, 1);
    const x = s.tensorInput(0, 4);
    const p = s.layer.params.lrn_param ?? {};
    if ((p.norm_region ?? 'ACROSS_CHANNELS') !== 'ACROSS_CHANNELS') s.fail('only ACROSS_CHANNELS LRN is supported');
    const size = p.local_size ?? 5;
    if (size % 2 !== 1) s.fail(`local_size must be odd, got ${size}`);
    const attrs = { size, alpha: { float: Math.fround(p.alpha ?? 1) }, beta: { float: Math.fround(p.beta ?? 0.75) }, bias: { float: Math.fround(p.k ?? 1) } };
    return { emit: (g) => [tensorValue(g.node('LRN', [x.tensor], g.topBase(0), attrs), x.shape)] };
  },
};
