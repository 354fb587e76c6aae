// Pooling (MAX, AVE, global) -> MaxPool / AveragePool / Global*Pool with Caffe's output size.
import { fmt } from '../dims';
import { type LayerHandler, type LayerScope, tensorValue } from '../handler';
import { spatial } from './params';

export const pooling: LayerHandler = {
  types: ['Pooling'],
  infer(s: LayerScope) {
    s.arity(1, 1);
    const x = s.tensorInput(0, 4);
    const p = s.layer.params.pooling_param ?? {};
    const pool = p.pool ?? 'MAX';
    if (pool === 'STOCHASTIC') s.fail('STOCHASTIC pooling is not supported');
    const [n, c, h, w] = x.shape;
    if (p.global_pooling) {
      if (p.kernel_size !== undefined || p.kernel_h !== undefined || p.kernel_w !== undefined) s.fail('global_pooling cannot be combined with a kernel size');
      return { emit: (g) => [tensorValue(g.node(pool === 'MAX' ? 'GlobalMaxPool' : 'GlobalAveragePool', [x.tensor], g.topBase(0)), [n, c, 1, 1])] };
    }
    const one = (v: number | undefined) => (v === undefined ? [] : [v]);
    const [kh, kw] = spatial(s, 'kernel', one(p.kernel_size), p.kernel_h, p.kernel_w, undefined);
    const [ph, pw] = p.pad_h !== undefined || p.pad_w !== undefined ? [p.pad_h ?? 0, p.pad_w ?? 0] : [p.pad ?? 0, p.pad ?? 0];
    const [sh, sw] = p.stride_h !== undefined || p.stride_w !== undefined ? [p.stride_h ?? 1, p.stride_w ?? 1] : [p.stride ?? 1, p.stride ?? 1];
    if (kh < 1 || kw < 1 || sh < 1 || sw < 1) s.fail('kernel and stride must be >= 1');
    if (ph >= kh || pw >= kw) s.fail(`pad (${ph}, ${pw}) must be smaller than the kernel (${kh}, ${kw})`);
    const ceil = p.ceil_mode ?? (p.round_mode ?? 'CEIL') === 'CEIL';
    // PoolingLayer::Reshape: ceil (or floor) division, then drop a last window that would start
    // inside the padding.
    const size = (len: number, k: number, st: number, pad: number): number => {
      let out = (ceil ? Math.ceil((len + 2 * pad - k) / st) : Math.floor((len + 2 * pad - k) / st)) + 1;
      if (pad > 0 && (out - 1) * st >= len + pad) out--;
      return out;
    };
    const oh = size(h, kh, sh, ph);
    const ow = size(w, kw, sw, pw);
    if (oh < 1 || ow < 1) s.fail(`output size ${oh}x${ow} for input ${fmt(x.shape)} is empty`);
    // ONNX pooling in floor mode with an explicit end padding that yields exactly Caffe's size.
    const endPad = (len: number, out: number, k: number, st: number, pad: number) => Math.max(0, (out - 1) * st + k - len - pad);
    const eh = endPad(h, oh, kh, sh, ph);
    const ew = endPad(w, ow, kw, sw, pw);
    const attrs: Record<string, number | number[]> = { kernel_shape: [kh, kw], strides: [sh, sw], pads: [ph, pw, eh, ew] };
    if (pool === 'AVE') {
      // Caffe divides by the window clipped to [-pad, len + pad): that is ONNX's count_include_pad=1
      // when the window never reaches past len + pad, and count_include_pad=0 without padding.
      if (ph === 0 && pw === 0) attrs.count_include_pad = 0;
      else if (eh <= ph && ew <= pw) attrs.count_include_pad = 1;
      else s.fail('average pooling with padding whose last window reaches past the padding (ceil rounding) is not supported');
    }
    return { emit: (g) => [tensorValue(g.node(pool === 'MAX' ? 'MaxPool' : 'AveragePool', [x.tensor], g.topBase(0), attrs), [n, c, oh, ow])] };
  },
};
