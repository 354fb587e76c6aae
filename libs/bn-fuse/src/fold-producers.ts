// Ops a BatchNormalization can be folded into. Each adapter knows where the producer keeps its
// weight and bias and which weight elements feed which output channel; the fold itself (checks,
// arithmetic, graph surgery) is shared. Conv is the only adapter today. The interface is shaped for
// the planned ones:
// - ConvTranspose: W is [C_in, M/group, k...]; element (i, j, ...) feeds channel
//   floor(i / (C_in/group)) * (M/group) + j, so `channelOf` needs the group (bn-folding.md §1.2);
// - Gemm: B is [K, N] or, with transB=1, [N, K]; only foldable with beta = 1 and a 1-D C (§1.3);
// - MatMul: no bias slot, so folding means rewriting to Gemm or adding an Add (§1.3).
import { AttributeProto, NodeProto, int64ToNumber } from './onnx-types';

export type ChannelCheck = { channels: number } | { reason: string };

export interface FoldProducer {
  opType: string;
  /** Input slot holding the weight. */
  weightInput: number;
  /** Input slot holding the optional bias (created when absent). */
  biasInput: number;
  /** Number of output channels the BN vectors must have, or why this producer cannot be folded. */
  outputChannels(node: NodeProto, weightDims: readonly number[]): ChannelCheck;
  /** Multiplies every weight element by s[its output channel], in place. */
  scaleWeight(weight: Float64Array, weightDims: readonly number[], node: NodeProto, s: Float64Array): void;
}

export function getAttribute(node: NodeProto, name: string): AttributeProto | undefined {
  return node.attribute.find((a) => a.name === name);
}

export function intAttribute(node: NodeProto, name: string, fallback: number): number {
  const a = getAttribute(node, name);
  return a?.i === undefined ? fallback : int64ToNumber(a.i);
}

/**
 * Conv, any group (depthwise included): W is [M, C/group, k...] and M already counts all groups,
 * so output channel m owns the contiguous block W[m, ...]. group, strides, pads, dilations and
 * auto_pad do not matter for the fold.
 */
export const CONV_PRODUCER: FoldProducer = {
  opType: 'Conv',
  weightInput: 1,
  biasInput: 2,
  outputChannels(node, dims) {
    if (dims.length < 3) return { reason: `Conv weight has rank ${dims.length}, expected >= 3` };
    const group = intAttribute(node, 'group', 1);
    if (group < 1 || dims[0] % group !== 0) return { reason: `Conv has ${dims[0]} output channels, not divisible by group ${group}` };
    return { channels: dims[0] };
  },
  scaleWeight(weight, dims, _node, s) {
    const block = weight.length / dims[0];
    for (let m = 0; m < dims[0]; m++) {
      const f = s[m];
      for (let i = m * block; i < (m + 1) * block; i++) weight[i] *= f;
    }
  },
};

export const FOLD_PRODUCERS: Readonly<Record<string, FoldProducer>> = Object.freeze({ Conv: CONV_PRODUCER });
