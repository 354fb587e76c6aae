// The arithmetic of the QDQ format as onnxruntime computes it, in float32 where onnxruntime works
// in float32 (scales are float32 tensors; Math.fround after each float32 operation), so the bytes
// of a quantized model are a function of its inputs alone, on every machine.

/** Activations: uint8, asymmetric (zero point in [0, 255]). */
export interface ActivationParams {
  scale: number;
  zeroPoint: number;
}

/** Per output channel, symmetric int8 weights in [-127, 127] and their float32 scales. */
export interface ChannelWeights {
  values: Int8Array;
  scales: Float32Array;
}

const f32 = Math.fround;

/** Round half to even, as QuantizeLinear rounds (std::nearbyint in the default rounding mode). */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * uint8 parameters for a float range. The range is widened to hold 0 (so that zero, e.g. padding,
 * is exact). `ceiling` is a Clip's upper bound absorbed by the quantizer: the representable
 * maximum 255 * scale (in float32) is kept at or below it, which onnxruntime requires before it
 * removes the Clip and fuses the convolution.
 */
export function activationParams(min: number, max: number, ceiling?: number): ActivationParams {
  const lo = Math.min(min, 0);
  const hi = Math.max(max, 0);
  if (!(hi > lo) || !Number.isFinite(lo) || !Number.isFinite(hi)) return { scale: 1, zeroPoint: 0 };
  let scale = f32((hi - lo) / 255);
  if (ceiling !== undefined && lo === 0) {
    // Step down one float32 ulp at a time (at most a few) while 255 * scale exceeds the bound.
    while (f32(255 * scale) > f32(ceiling)) scale = nextDown(scale);
  }
  if (scale === 0) return { scale: 1, zeroPoint: 0 };
  const zeroPoint = Math.min(255, Math.max(0, roundHalfEven(f32(-lo / scale))));
  return { scale, zeroPoint };
}

function nextDown(x: number): number {
  const buf = new DataView(new ArrayBuffer(4));
  buf.setFloat32(0, x);
  buf.setUint32(0, buf.getUint32(0) - 1);
  return buf.getFloat32(0);
}

/** QuantizeLinear to int8 with zero point 0, saturated to [-127, 127] (symmetric). */
function quantizeSymmetric(x: number, scale: number): number {
  return Math.min(127, Math.max(-127, roundHalfEven(f32(x / scale))));
}

/**
 * Per-output-channel symmetric int8 weights: channel c (axis 0) gets scale max|w_c| / 127.
 * An all-zero channel gets scale 1 (any scale represents it exactly).
 */
export function quantizeWeights(weights: ArrayLike<number>, channels: number): ChannelWeights {
  const per = weights.length / channels;
  if (!Number.isInteger(per)) throw new RangeError(`${weights.length} weights do not split into ${channels} channels`);
  const values = new Int8Array(weights.length);
  const scales = new Float32Array(channels);
  for (let c = 0; c < channels; c++) {
    let absMax = 0;
    for (let i = c * per; i < (c + 1) * per; i++) absMax = Math.max(absMax, Math.abs(weights[i]));
    const scale = absMax > 0 ? f32(absMax / 127) : 1;
    scales[c] = scale;
    for (let i = c * per; i < (c + 1) * per; i++) values[i] = quantizeSymmetric(weights[i], scale);
  }
  return { values, scales };
}

/**
 * int32 bias with scale input_scale * weight_scale[c] (float32 product, what QLinearConv assumes)
 * and zero point 0. Returns the scales too, for the bias's DequantizeLinear.
 */
export function quantizeBias(bias: ArrayLike<number>, inputScale: number, weightScales: Float32Array): { values: Int32Array; scales: Float32Array } {
  const values = new Int32Array(bias.length);
  const scales = new Float32Array(bias.length);
  for (let c = 0; c < bias.length; c++) {
    const scale = f32(inputScale * weightScales[c]);
    scales[c] = scale;
    values[c] = Math.min(2147483647, Math.max(-2147483647, roundHalfEven(bias[c] / scale)));
  }
  return { values, scales };
}
