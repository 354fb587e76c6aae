// Plain-JS reference kernels (batch 1, NCHW, float64) used by the model writer to calibrate the
// synthetic weights: BN statistics and head scales are measured on a forward pass, as a trained
// network's running statistics would be. They are written for determinism (a fixed summation order,
// IEEE double arithmetic only) rather than speed; one MobileNet-SSD pass takes about a second.

export interface FeatureMap {
  channels: number;
  height: number;
  width: number;
  /** [channels, height, width], row-major. */
  data: Float64Array;
}

export interface ConvParams {
  outChannels: number;
  kernel: number;
  stride: number;
  pad: number;
  group: number;
  /** [outChannels, inChannels / group, kernel, kernel]. */
  weight: ArrayLike<number>;
  bias?: ArrayLike<number>;
}

function convOutputSize(size: number, kernel: number, stride: number, pad: number): number {
  return Math.floor((size + 2 * pad - kernel) / stride) + 1;
}

/**
 * Convolution (square kernel, symmetric padding), ONNX/Caffe semantics. Dense convolutions go
 * through im2col + a register-blocked GEMM (about 1 ns per multiply-accumulate in V8, 5x faster
 * than the direct loop); grouped/depthwise ones use the direct loop, which is cheap for them.
 */
export function conv2d(x: FeatureMap, p: ConvParams): FeatureMap {
  const out = p.group === 1 ? convGemm(x, p) : convDirect(x, p);
  if (p.bias) {
    const plane = out.height * out.width;
    for (let co = 0; co < p.outChannels; co++) {
      const b = p.bias[co];
      for (let i = co * plane; i < (co + 1) * plane; i++) out.data[i] += b;
    }
  }
  return out;
}

function convGemm(x: FeatureMap, p: ConvParams): FeatureMap {
  const { kernel: k, stride: s, pad } = p;
  const H = x.height;
  const W = x.width;
  const Ho = convOutputSize(H, k, s, pad);
  const Wo = convOutputSize(W, k, s, pad);
  const P = Ho * Wo;
  const K = x.channels * k * k;
  // cols[pixel][ci*k*k + ky*k + kx], the same order as a weight row [ci][ky][kx].
  const cols = new Float64Array(P * K);
  const xd = x.data;
  for (let oy = 0; oy < Ho; oy++) {
    for (let ox = 0; ox < Wo; ox++) {
      const base = (oy * Wo + ox) * K;
      for (let ci = 0; ci < x.channels; ci++) {
        for (let ky = 0; ky < k; ky++) {
          const iy = oy * s - pad + ky;
          for (let kx = 0; kx < k; kx++) {
            const ix = ox * s - pad + kx;
            if (iy >= 0 && iy < H && ix >= 0 && ix < W) cols[base + (ci * k + ky) * k + kx] = xd[(ci * H + iy) * W + ix];
          }
        }
      }
    }
  }
  const weight = Float64Array.from(p.weight);
  return { channels: p.outChannels, height: Ho, width: Wo, data: gemmRows(weight, cols, p.outChannels, K, P) };
}

/** out[co][p] = sum_k w[co][k] * cols[p][k], 2 output rows x 4 pixels per inner loop. */
function gemmRows(w: Float64Array, cols: Float64Array, M: number, K: number, P: number): Float64Array {
  const out = new Float64Array(M * P);
  let co = 0;
  for (; co + 2 <= M; co += 2) {
    const wa = co * K;
    const wb = wa + K;
    let p = 0;
    for (; p + 4 <= P; p += 4) {
      const x0 = p * K;
      const x1 = x0 + K;
      const x2 = x1 + K;
      const x3 = x2 + K;
      let a0 = 0, a1 = 0, a2 = 0, a3 = 0, b0 = 0, b1 = 0, b2 = 0, b3 = 0;
      for (let i = 0; i < K; i++) {
        const u = w[wa + i];
        const v = w[wb + i];
        const y0 = cols[x0 + i];
        const y1 = cols[x1 + i];
        const y2 = cols[x2 + i];
        const y3 = cols[x3 + i];
        a0 += u * y0;
        a1 += u * y1;
        a2 += u * y2;
        a3 += u * y3;
        b0 += v * y0;
        b1 += v * y1;
        b2 += v * y2;
        b3 += v * y3;
      }
      const o = co * P + p;
      out[o] = a0;
      out[o + 1] = a1;
      out[o + 2] = a2;
      out[o + 3] = a3;
      out[o + P] = b0;
      out[o + P + 1] = b1;
      out[o + P + 2] = b2;
      out[o + P + 3] = b3;
    }
    for (; p < P; p++) {
      const x0 = p * K;
      let a = 0;
      let b = 0;
      for (let i = 0; i < K; i++) {
        a += w[wa + i] * cols[x0 + i];
        b += w[wb + i] * cols[x0 + i];
      }
      out[co * P + p] = a;
      out[(co + 1) * P + p] = b;
    }
  }
  for (; co < M; co++) {
    for (let p = 0; p < P; p++) {
      let a = 0;
      for (let i = 0; i < K; i++) a += w[co * K + i] * cols[p * K + i];
      out[co * P + p] = a;
    }
  }
  return out;
}

function convDirect(x: FeatureMap, p: ConvParams): FeatureMap {
  const { outChannels, kernel: k, stride: s, pad, group } = p;
  const inPerGroup = x.channels / group;
  const outPerGroup = outChannels / group;
  const H = x.height;
  const W = x.width;
  const Ho = convOutputSize(H, k, s, pad);
  const Wo = convOutputSize(W, k, s, pad);
  const out = new Float64Array(outChannels * Ho * Wo);
  const plane = Ho * Wo;
  const xd = x.data;
  for (let co = 0; co < outChannels; co++) {
    const g = Math.floor(co / outPerGroup);
    const acc = out.subarray(co * plane, (co + 1) * plane);
    for (let ci = 0; ci < inPerGroup; ci++) {
      const src = (g * inPerGroup + ci) * H * W;
      for (let ky = 0; ky < k; ky++) {
        for (let kx = 0; kx < k; kx++) {
          const w = p.weight[((co * inPerGroup + ci) * k + ky) * k + kx];
          if (w === 0) continue;
          // Output columns whose input column ox*s - pad + kx lies inside [0, W).
          const oxStart = Math.max(0, Math.ceil((pad - kx) / s));
          const oxEnd = Math.min(Wo - 1, Math.floor((W - 1 + pad - kx) / s));
          for (let oy = 0; oy < Ho; oy++) {
            const iy = oy * s - pad + ky;
            if (iy < 0 || iy >= H) continue;
            const row = src + iy * W - pad + kx;
            const dst = oy * Wo;
            for (let ox = oxStart; ox <= oxEnd; ox++) acc[dst + ox] += w * xd[row + ox * s];
          }
        }
      }
    }
  }
  return { channels: outChannels, height: Ho, width: Wo, data: out };
}

export interface ChannelStats {
  mean: Float64Array;
  variance: Float64Array;
  /** Values per channel the statistics were taken over. */
  count: number;
}

/** Per-channel mean and (population) variance, pooled over one or more feature maps (a batch). */
export function channelStats(maps: FeatureMap | readonly FeatureMap[]): ChannelStats {
  const list = Array.isArray(maps) ? (maps as readonly FeatureMap[]) : [maps as FeatureMap];
  const C = list[0].channels;
  const plane = list[0].height * list[0].width;
  const mean = new Float64Array(C);
  const variance = new Float64Array(C);
  const count = plane * list.length;
  for (let c = 0; c < C; c++) {
    let sum = 0;
    for (const x of list) for (let i = c * plane; i < (c + 1) * plane; i++) sum += x.data[i];
    const m = sum / count;
    let sq = 0;
    for (const x of list) {
      for (let i = c * plane; i < (c + 1) * plane; i++) {
        const d = x.data[i] - m;
        sq += d * d;
      }
    }
    mean[c] = m;
    variance[c] = sq / count;
  }
  return { mean, variance, count };
}

export interface BatchNormParams {
  scale: ArrayLike<number>;
  bias: ArrayLike<number>;
  mean: ArrayLike<number>;
  variance: ArrayLike<number>;
  epsilon: number;
}

/** Inference BatchNormalization followed by ReLU, in place. */
export function batchNormRelu(x: FeatureMap, bn: BatchNormParams): FeatureMap {
  const plane = x.height * x.width;
  for (let c = 0; c < x.channels; c++) {
    const s = bn.scale[c] / Math.sqrt(bn.variance[c] + bn.epsilon);
    const shift = bn.bias[c] - bn.mean[c] * s;
    for (let i = c * plane; i < (c + 1) * plane; i++) {
      const v = x.data[i] * s + shift;
      x.data[i] = v > 0 ? v : 0;
    }
  }
  return x;
}
