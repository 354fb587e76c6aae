// Normalize (weiliu89/caffe@ssd NormalizeLayer, SSD's conv4_3_norm): an L2 norm per position
// across channels (across_spatial false) or over the whole image (true), with eps added to the sum
// of squares under the square root, then a learned scale per channel (channel_shared false) or
// one for all. Caffe's float computation, op for op:
//   y = x / sqrt(sum(x^2) + eps) * scale
// ReduceSumSquare, Add, Sqrt, Div, Mul; OpenCV's NormalizeBBox layer computes the same.
import { type LayerHandler, type LayerScope, tensorValue } from '../handler';

export const normalize: LayerHandler = {
  types: ['Normalize'],
  infer(s: LayerScope) {
    const { layer } = s;
    s.arity(1, 1);
    const x = s.tensorInput(0, 4);
    const p = layer.params.norm_param ?? {};
    const acrossSpatial = p.across_spatial ?? true;
    const channelShared = p.channel_shared ?? true;
    const eps = p.eps ?? 1e-10;
    if (!(eps >= 0) || !Number.isFinite(eps)) s.fail(`eps must be >= 0, got ${eps}`);
    const C = x.shape[1];
    const scaleShape = channelShared ? [1] : [C];
    return {
      weights: [{ layer, blobs: [{ role: 'scale', shape: scaleShape }] }],
      emit(g, [scaleBlob]) {
        const base = layer.name;
        const axes = acrossSpatial ? [1, 2, 3] : [1];
        const sumSq = g.node('ReduceSumSquare', [x.tensor], `${base}/sumsq`, { axes, keepdims: 1 }, `${base}/sumsq`);
        // eps is a float in caffe.proto: added as the same float32 value.
        const withEps = g.node('Add', [sumSq, g.floatConst(`${base}/eps`, [], [Math.fround(eps)])], `${base}/sumsq_eps`, {}, `${base}/eps`);
        const norm = g.node('Sqrt', [withEps], `${base}/norm`, {}, `${base}/sqrt`);
        const unit = g.node('Div', [x.tensor, norm], `${base}/unit`, {}, `${base}/div`);
        // The scale blob broadcast over N, H, W: [1, C, 1, 1] per channel, [1] when shared.
        const scale = g.rawTensor(`${base}/scale`, channelShared ? [1] : [1, C, 1, 1], scaleBlob);
        return [tensorValue(g.node('Mul', [unit, scale], g.topBase(0)), x.shape)];
      },
    };
  },
};
