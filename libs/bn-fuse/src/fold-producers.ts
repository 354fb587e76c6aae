// Ops a BatchNormalization can be folded into. BN normalises axis 1 of its input X; every producer
// here is linear per element of that axis ("output channel"), so with s[c] = gamma[c]/sqrt(var[c]+eps)
//   W'[i] = W[i] * s[channel of weight element i]
//   b'[e] = (f * b[source of e] - mean[c]) * s[c] + beta[c]      (c = channel of bias element e)
// where f is the producer's own bias multiplier (Gemm beta, else 1) and b = 0 without a bias. Each
// adapter says where the producer keeps its weight and bias, which weight element feeds which
// channel, what the fused bias looks like, and how the node must change. The checks
// (eligibility.ts), arithmetic (fold-math.ts) and graph surgery (rewrite.ts) are shared.
// bn-folding.md §1.1-1.3 has the derivations.
//
// - Conv, any group (depthwise included): W [M, C/group, k...]; M counts all groups, so channel m
//   owns the contiguous block W[m, ...]. group, strides, pads, dilations, auto_pad do not matter.
// - ConvTranspose, any group: W [C_in, M/group, k...]; element (i, j, k...) feeds channel
//   floor(i / (C_in/group)) * (M/group) + j. Scaling axis 1 alone (PyTorch's fuse_conv_bn_weights
//   with transpose=True, chuanqi305's merge_bn.py) is only right for group = 1.
// - Gemm (opset >= 7): Y = alpha * A' B' + beta * C with B' = B or B^T. Channel n is column n of Y:
//   row n of B when transB = 1, column n otherwise; transA and alpha do not matter (alpha multiplies
//   the scaled product as before). The fused C' = beta * s * C + (beta_bn - s * mean) absorbs
//   beta, so the node gets beta = 1; C may be absent, a scalar, [N], [1, N], [M, N] or [M, 1]
//   (anything unidirectionally broadcastable to [M, N]); C' is [N], or [rows, N] for a 2-D C.
// - MatMul with a constant 2-D weight W [K, N] as its second input, when its first input is known
//   to be 2-D: the output is [M, N], BN's channel axis 1 is the MatMul's output feature axis, and
//   the pair becomes one Gemm(A, W', C') (alpha = beta = 1, no transposes), which is exactly
//   "MatMul + Add" in one node. With a 1-D or N-D first input the BN channel axis is not N (for a
//   3-D input [B, T, K] it is T), so the fold would be wrong and the BN is left; this converter
//   never emits MatMul + Add, because the only foldable layout is Gemm's.
import { AttributeProto, AttributeType, DataType, NodeProto, int64ToApproxNumber } from '@edge-ssd/onnx-io';
import type { LeaveCode } from './eligibility';
import type { BiasLayout, ChannelLayout } from './fold-math';

/** What the fold core knows about the producer's surroundings. */
interface ProducerScope {
  /** Default-domain opset of the model. */
  opset: number;
  /** Element type of the weight. */
  weightType: number;
  /** Rank of a tensor in the producer's scope when it is declared or can be derived, else undefined. */
  rankOf(name: string): number | undefined;
}

export interface ProducerLayout extends ChannelLayout {
  /** Length of the BN vectors this producer's output has on BN's channel axis. */
  channels: number;
  /** The producer becomes this op type (MatMul -> Gemm). */
  opType?: string;
  /** FLOAT attributes to set on the producer (Gemm beta = 1 once beta is folded into C'). */
  floatAttributes?: Record<string, number>;
  /** Remarks for the report. */
  notes: string[];
}

/** The layout refusals are eligibility checks that need the op's own shape rules. */
type LayoutRefusal = { code: Extract<LeaveCode, 'shape-mismatch' | 'unsupported-layout' | 'unsupported-dtype'>; reason: string };

export interface FoldProducer {
  opType: string;
  /** Input slot holding the weight. */
  weightInput: number;
  /** Input slot holding the optional bias (created when absent). */
  biasInput: number;
  /** How the weight and bias map to output channels, or why this node cannot be folded. */
  layout(node: NodeProto, weightDims: readonly number[], biasDims: readonly number[] | undefined, scope: ProducerScope): ProducerLayout | LayoutRefusal;
}

export function getAttribute(node: NodeProto, name: string): AttributeProto | undefined {
  return node.attribute.find((a) => a.name === name);
}

/** An INT attribute; a value beyond 2^53 (never valid for group, transB, flags) comes out approximate and is refused by the checks that follow. */
export function intAttribute(node: NodeProto, name: string, fallback: number): number {
  const a = getAttribute(node, name);
  return a?.i === undefined ? fallback : int64ToApproxNumber(a.i);
}

function floatAttribute(node: NodeProto, name: string, fallback: number): number {
  const a = getAttribute(node, name);
  // FLOAT attributes are 32-bit on the wire; an in-memory model may hold an unrounded double.
  return a?.f === undefined ? fallback : Math.fround(a.f);
}

/** Sets a FLOAT attribute, replacing the attribute object (attributes may be shared with another model). */
export function setFloatAttribute(node: NodeProto, name: string, value: number): void {
  const attr: AttributeProto = { name, type: AttributeType.FLOAT, f: value, floats: [], ints: [], strings: [], tensors: [], graphs: [], sparse_tensors: [], type_protos: [] };
  const i = node.attribute.findIndex((a) => a.name === name);
  if (i >= 0) node.attribute[i] = attr;
  else node.attribute.push(attr);
}

const product = (dims: readonly number[]) => dims.reduce((a, b) => a * b, 1);

/** A 1-D bias of length `channels`, element c on channel c. */
function vectorBias(channels: number, hasBias: boolean): BiasLayout {
  return { dims: [channels], factor: 1, channelOf: (e) => e, sourceOf: hasBias ? (e) => e : () => -1 };
}

function checkVectorBias(op: string, biasDims: readonly number[] | undefined, channels: number): LayoutRefusal | undefined {
  if (biasDims && !(biasDims.length === 1 && biasDims[0] === channels)) {
    return { code: 'shape-mismatch', reason: `${op} bias has shape [${biasDims.join(', ')}], expected [${channels}]` };
  }
  return undefined;
}

const CONV_PRODUCER: FoldProducer = {
  opType: 'Conv',
  weightInput: 1,
  biasInput: 2,
  layout(node, dims, biasDims) {
    if (dims.length < 3) return { code: 'shape-mismatch', reason: `Conv weight has rank ${dims.length}, expected >= 3` };
    const group = intAttribute(node, 'group', 1);
    if (group < 1 || dims[0] % group !== 0) return { code: 'shape-mismatch', reason: `Conv has ${dims[0]} output channels, not divisible by group ${group}` };
    const M = dims[0];
    const block = product(dims.slice(1));
    const bad = checkVectorBias('Conv', biasDims, M);
    if (bad) return bad;
    return { channels: M, runLength: block, channelOfRun: (m) => m, bias: vectorBias(M, biasDims !== undefined), notes: [] };
  },
};

const CONV_TRANSPOSE_PRODUCER: FoldProducer = {
  opType: 'ConvTranspose',
  weightInput: 1,
  biasInput: 2,
  layout(node, dims, biasDims) {
    if (dims.length < 3) return { code: 'shape-mismatch', reason: `ConvTranspose weight has rank ${dims.length}, expected >= 3` };
    const group = intAttribute(node, 'group', 1);
    const cin = dims[0];
    if (group < 1 || cin % group !== 0) return { code: 'shape-mismatch', reason: `ConvTranspose has ${cin} input channels, not divisible by group ${group}` };
    const perGroupOut = dims[1];
    const perGroupIn = cin / group;
    const M = perGroupOut * group;
    const kernel = product(dims.slice(2));
    const bad = checkVectorBias('ConvTranspose', biasDims, M);
    if (bad) return bad;
    return {
      channels: M,
      // Run r = ci * perGroupOut + j is W[ci, j, :]; input channel ci is in group floor(ci / perGroupIn).
      runLength: kernel,
      channelOfRun: (r) => {
        const j = r % perGroupOut;
        const ci = (r - j) / perGroupOut;
        return Math.floor(ci / perGroupIn) * perGroupOut + j;
      },
      bias: vectorBias(M, biasDims !== undefined),
      notes: [],
    };
  },
};

const GEMM_PRODUCER: FoldProducer = {
  opType: 'Gemm',
  weightInput: 1,
  biasInput: 2,
  layout(node, dims, biasDims, scope) {
    if (scope.opset < 7) return { code: 'unsupported-layout', reason: `Gemm-${scope.opset < 6 ? 1 : 6} (opset ${scope.opset}) uses the legacy broadcast attribute; only opset >= 7 is folded` };
    if (dims.length !== 2) return { code: 'shape-mismatch', reason: `Gemm weight B has rank ${dims.length}, expected 2` };
    const transB = intAttribute(node, 'transB', 0) !== 0;
    const N = transB ? dims[0] : dims[1];
    const K = transB ? dims[1] : dims[0];
    const beta = floatAttribute(node, 'beta', 1);
    const notes: string[] = [];
    const floatAttributes: Record<string, number> = {};
    let bias: BiasLayout;
    if (!biasDims) {
      bias = { dims: [N], factor: 1, channelOf: (e) => e, sourceOf: () => -1 };
      // Without C, beta had no effect; the new C' needs beta = 1.
      if (getAttribute(node, 'beta') && beta !== 1) floatAttributes.beta = 1;
    } else {
      if (biasDims.length > 2) return { code: 'shape-mismatch', reason: `Gemm C has rank ${biasDims.length}, expected <= 2` };
      const rows = biasDims.length === 2 ? biasDims[0] : 1;
      const cols = biasDims.length === 0 ? 1 : biasDims[biasDims.length - 1];
      if (cols !== 1 && cols !== N) return { code: 'shape-mismatch', reason: `Gemm C has shape [${biasDims.join(', ')}], not broadcastable to [M, ${N}]` };
      const outDims = biasDims.length === 2 ? [rows, N] : [N];
      bias = {
        dims: outDims,
        factor: beta,
        channelOf: (e) => e % N,
        sourceOf: (e) => (rows === 1 ? 0 : Math.floor(e / N)) * cols + (cols === 1 ? 0 : e % N),
      };
      if (beta !== 1) {
        floatAttributes.beta = 1;
        notes.push(`beta=${beta} folded into C`);
      }
      if (rows > 1 && cols === 1) notes.push(`C [${rows}, 1] expanded to [${rows}, ${N}]`);
    }
    return {
      channels: N,
      // transB: B is [N, K], row n is channel n; else B is [K, N], element (k, n) is channel n.
      ...(transB ? { runLength: K, channelOfRun: (r: number) => r } : { runLength: 1, channelOfRun: (r: number) => r % N }),
      bias,
      floatAttributes: Object.keys(floatAttributes).length > 0 ? floatAttributes : undefined,
      notes,
    };
  },
};

const MATMUL_PRODUCER: FoldProducer = {
  opType: 'MatMul',
  weightInput: 1,
  biasInput: 2,
  layout(node, dims, biasDims, scope) {
    if (biasDims) return { code: 'shape-mismatch', reason: 'MatMul has a third input' };
    if (scope.opset < 7) return { code: 'unsupported-layout', reason: `opset ${scope.opset}: the fold rewrites MatMul to Gemm, which needs opset >= 7` };
    if (scope.weightType === DataType.BFLOAT16 && scope.opset < 13) return { code: 'unsupported-dtype', reason: `bfloat16 Gemm needs opset >= 13 (model has ${scope.opset})` };
    if (dims.length !== 2) return { code: 'unsupported-layout', reason: `MatMul weight has rank ${dims.length}; only a 2-D [K, N] weight folds` };
    const a = node.input[0] ?? '';
    const rank = scope.rankOf(a);
    if (rank === undefined) {
      return { code: 'unsupported-layout', reason: `rank of MatMul input '${a}' is unknown (no value_info); the fold is only right when it is 2-D` };
    }
    if (rank !== 2) {
      return { code: 'unsupported-layout', reason: `MatMul input '${a}' has rank ${rank}; BN's channel axis 1 is the MatMul's output feature axis only for a 2-D input` };
    }
    const N = dims[1];
    return {
      channels: N,
      runLength: 1,
      channelOfRun: (r) => r % N,
      bias: { dims: [N], factor: 1, channelOf: (e) => e, sourceOf: () => -1 },
      opType: 'Gemm',
      notes: ['MatMul rewritten to Gemm'],
    };
  },
};

export const FOLD_PRODUCERS: Readonly<Record<string, FoldProducer>> = Object.freeze({
  Conv: CONV_PRODUCER,
  ConvTranspose: CONV_TRANSPOSE_PRODUCER,
  Gemm: GEMM_PRODUCER,
  MatMul: MATMUL_PRODUCER,
});
