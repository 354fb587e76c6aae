// Whether a BatchNormalization may be folded, and if not, why (a LeaveCode and one line). A BN is
// left whenever folding could change what any consumer sees: the producer output is read elsewhere
// (in any scope) or is a graph output, the BN is in training mode or its extra outputs are used, an
// input is not a constant initializer, or shapes/dtypes/statistics do not fit (§2 and §6 of
// bn-folding.md). The BN vectors and the producer's bias are read here, into typed arrays; the
// weight, which may be large, is only checked for size (rewrite.ts streams it). Nothing changes
// until every check has passed.
import {
  DataType,
  ExternalDataLoader,
  FLOAT_DATA_TYPES,
  FloatReader,
  ModelUses,
  NodeProto,
  TensorDataError,
  dataTypeName,
  describeNode,
  floatReader,
  floatWidth,
  isExternalTensor,
  isOnnxDomain,
  lazyData,
  tensorDims,
  tensorElementCount,
} from '@edge-ssd/onnx-io';
import type { FoldProblem } from './fold-math';
import { FoldProducer, ProducerLayout, getAttribute, intAttribute } from './fold-producers';
import { Operand, Scope, UnreachableKind, producerOf, rankOf, resolve } from './match';

/** Why a BatchNormalization was left in the graph. */
export type LeaveCode =
  | 'malformed-node'
  | 'training-mode'
  | 'non-spatial'
  | 'extra-outputs-used'
  | 'unsupported-producer'
  | 'unsupported-layout'
  | 'producer-output-shared'
  | 'producer-output-is-graph-output'
  | 'non-constant-input'
  | 'shared-weight'
  | 'unreadable-tensor'
  | 'unsupported-dtype'
  | 'shape-mismatch'
  | 'invalid-statistics'
  | 'unsupported-scope';

export interface Refusal {
  code: LeaveCode;
  reason: string;
}

export interface EligibilityContext {
  /** Default-domain opset of the model. */
  opset: number;
  /** Producer op types folded into. */
  producers: Readonly<Record<string, FoldProducer>>;
  uses: ModelUses;
  /** Main-graph initializers that are also graph inputs count as constants (IR < 4, or by option). */
  mainInputsAreConstant: boolean;
  sharedWeights: 'clone' | 'leave';
  externalData?: ExternalDataLoader;
}

/** A BN that may be folded, with everything the fold reads. */
export interface Candidate {
  producerIndex: number;
  producer: FoldProducer;
  layout: ProducerLayout;
  /** As a runtime sees it: float32, 1e-5 when absent. */
  epsilon: number;
  weight: Operand;
  bias?: Operand;
  /** The BN's scale, B, mean, var, with the graph holding each. */
  params: { name: string; owner: Scope }[];
  /** Unused optional BN outputs (BN-14/15) that disappear with the BN. */
  droppedOutputs: string[];
  notes: string[];
  statistics: { gamma: Float64Array; beta: Float64Array; mean: Float64Array; variance: Float64Array };
  biasValues?: Float64Array;
  weightType: number;
  biasType: number;
  /** Byte length of the weight: it is streamed, not read here. */
  weightBytes: number;
}

const DEFAULT_EPSILON = 1e-5;
const ROLES = ['scale', 'B', 'mean', 'var'] as const;

/** The checks in the order they are reported: the first that fails is the BN's reason. */
export function checkBatchNorm(bn: NodeProto, scope: Scope, ctx: EligibilityContext): Candidate | Refusal {
  const { opset, uses } = ctx;
  const useCount = (name: string) => uses.uses.get(name) ?? 0;
  if (bn.input.length !== 5 || bn.input.some((n) => n === '') || bn.output.length < 1 || bn.output[0] === '') {
    return { code: 'malformed-node', reason: 'BatchNormalization needs exactly the inputs X, scale, B, mean, var and an output Y' };
  }

  // Inference mode. BN-1/6: is_test (default 0 = training). BN-7/9: extra outputs mean training.
  // BN-14/15: training_mode (default 0); extra outputs are then invalid, harmless only if unused.
  const extra = bn.output.slice(1).filter((o) => o !== '');
  let droppedOutputs: string[] = [];
  if (opset < 7 && intAttribute(bn, 'is_test', 0) !== 1) {
    return { code: 'training-mode', reason: `is_test is not 1 (BatchNormalization-${opset < 6 ? 1 : 6} defaults to training)` };
  }
  if (opset < 9 && intAttribute(bn, 'spatial', 1) !== 1) return { code: 'non-spatial', reason: 'spatial=0 (per-element statistics)' };
  if (opset >= 14 && intAttribute(bn, 'training_mode', 0) !== 0) return { code: 'training-mode', reason: 'training_mode=1 (uses batch statistics)' };
  if (extra.length > 0) {
    if (opset < 14) return { code: 'training-mode', reason: `optional outputs ${quoteList(extra)} present (training mode before opset 14)` };
    const used = extra.filter((o) => useCount(o) > 0 || uses.graphOutputs.has(o));
    if (used.length > 0) return { code: 'extra-outputs-used', reason: `optional outputs ${quoteList(used)} are used` };
    droppedOutputs = extra;
  }

  const x = bn.input[0];
  const producerIndex = producerOf(x, scope);
  if (producerIndex === undefined) {
    const r = resolve(x, scope, ctx.mainInputsAreConstant);
    const what = 'tensor' in r ? 'an initializer' : r.outer ? `${r.why} (an enclosing graph; folds do not cross graph boundaries)` : r.why;
    return { code: 'unsupported-producer', reason: `input '${x}' is ${what}` };
  }
  const conv = scope.graph.node[producerIndex];
  const producer = isOnnxDomain(conv.domain) ? ctx.producers[conv.op_type ?? ''] : undefined;
  if (!producer) return { code: 'unsupported-producer', reason: `input '${x}' is produced by ${conv.op_type} '${describeNode(conv)}', not a foldable op` };
  if (conv.output.indexOf(x) !== 0) return { code: 'unsupported-producer', reason: `input '${x}' is not the first output of '${describeNode(conv)}'` };
  if (uses.graphOutputs.has(x)) return { code: 'producer-output-is-graph-output', reason: `'${x}' (output of '${describeNode(conv)}') is also a graph output` };
  const xUses = useCount(x);
  if (xUses !== 1) return { code: 'producer-output-shared', reason: `'${x}' (output of '${describeNode(conv)}') has ${xUses} consumers` };

  const weightName = conv.input[producer.weightInput] ?? '';
  const biasName = conv.input[producer.biasInput] ?? '';
  if (!weightName) return { code: 'non-constant-input', reason: `${producer.opType} has no weight input` };
  const wanted: [string, string][] = [['weight', weightName], ...(biasName ? [['bias', biasName] as [string, string]] : []), ...bn.input.slice(1, 5).map((p, i) => [ROLES[i], p] as [string, string])];
  const found = new Map<string, Operand>();
  for (const [role, name] of wanted) {
    const r = resolve(name, scope, ctx.mainInputsAreConstant);
    if (!('tensor' in r)) return { code: 'non-constant-input', reason: `${role} '${name}' is ${r.why}` };
    found.set(role, r);
  }
  const notes: string[] = [];
  for (const [role, name] of [['weight', weightName], ['bias', biasName]]) {
    const n = name ? useCount(name) : 0;
    if (n <= 1) continue;
    if (ctx.sharedWeights === 'leave') return { code: 'shared-weight', reason: `${role} '${name}' is shared by ${n} inputs` };
    notes.push(`${role} '${name}' is also read by ${n - 1} other input(s); folded into a copy, the original stays`);
  }

  const weightOperand = found.get('weight') as Operand;
  const weight = weightOperand.tensor;
  const biasOperand = found.get('bias');
  const bias = biasOperand?.tensor;
  const weightType = weight.data_type ?? DataType.UNDEFINED;
  for (const [role, { tensor }] of found) {
    if (!FLOAT_DATA_TYPES.has(tensor.data_type ?? 0)) {
      return { code: 'unsupported-dtype', reason: `${role} '${tensor.name}' has dtype ${dataTypeName(tensor.data_type)}; only float32/float16/bfloat16/float64 fold exactly` };
    }
  }
  let dims: number[];
  let biasDims: number[] | undefined;
  try {
    dims = tensorDims(weight);
    biasDims = bias ? tensorDims(bias) : undefined;
    tensorElementCount(weight);
  } catch (err) {
    return unreadable(err);
  }
  const layout = producer.layout(conv, dims, biasDims, {
    opset,
    weightType,
    rankOf: (name) => rankOf(name, scope, ctx.mainInputsAreConstant),
  });
  if ('code' in layout) return layout;
  const C = layout.channels;

  const vectors: Float64Array[] = [];
  let biasValues: Float64Array | undefined;
  const weightBytes = dims.reduce((p, d) => p * d, 1) * floatWidth(weightType);
  try {
    for (const role of ROLES) {
      const t = (found.get(role) as Operand).tensor;
      if (t.dims.length !== 1) return { code: 'shape-mismatch', reason: `${role} '${t.name}' has rank ${t.dims.length}, expected a 1-D vector of ${C}` };
      const r = floatReader(t, ctx.externalData);
      if (r.count !== C) return { code: 'shape-mismatch', reason: `${role} '${t.name}' has ${r.count} values, the producer has ${C} output channels` };
      vectors.push(float64(r));
    }
    biasValues = bias ? float64(floatReader(bias, ctx.externalData)) : undefined;
    // The weight is streamed, not read whole: check its stored size here.
    const stored = lazyData(weight)?.byteLength ?? weight.raw_data?.byteLength;
    if (stored !== undefined && !isExternalTensor(weight) && stored !== weightBytes) {
      return { code: 'unreadable-tensor', reason: `tensor '${weightName}': raw data has ${stored} bytes, expected ${weightBytes}` };
    }
    // Typed fields: their value count must match too, before a buffer of weightBytes is made.
    if (stored === undefined && !isExternalTensor(weight)) floatReader(weight);
  } catch (err) {
    return unreadable(err);
  }
  const [gamma, beta, mean, variance] = vectors;

  return {
    producerIndex,
    producer,
    layout,
    // A FLOAT attribute is 32-bit on the wire: round an in-memory value the way a runtime will see it.
    epsilon: Math.fround(getAttribute(bn, 'epsilon')?.f ?? DEFAULT_EPSILON),
    weight: weightOperand,
    bias: biasOperand,
    params: bn.input.slice(1, 5).map((name, i) => ({ name, owner: (found.get(ROLES[i]) as Operand).owner })),
    droppedOutputs,
    notes: [...notes, ...layout.notes],
    statistics: { gamma, beta, mean, variance },
    biasValues,
    weightType,
    biasType: bias?.data_type ?? weightType,
    weightBytes,
  };
}

/** The arithmetic has no representable result: the statistics do not fit this producer. */
export function problemRefusal(p: FoldProblem, c: Candidate): Refusal {
  const reason = ((): string => {
    switch (p.problem) {
      case 'variance-not-positive':
        return `channel ${p.channel}: var + epsilon = ${p.denominator} (not a positive number)`;
      case 'scale-not-finite':
        return `channel ${p.channel}: folded scale is not finite`;
      case 'bias-input-not-finite':
        return `bias '${c.bias?.tensor.name}' has a non-finite value at ${p.index}`;
      case 'bias-not-finite':
        return `channel ${p.channel}: folded bias is not finite`;
      case 'bias-overflow':
        return `a folded bias value (${p.value}) does not fit ${dataTypeName(c.biasType)}`;
      case 'weight-overflow':
        return `a folded weight value (${p.value}) does not fit ${dataTypeName(c.weightType)}`;
    }
  })();
  return { code: 'invalid-statistics', reason };
}

/** A tensor that cannot be read (bad size, missing external data): the BN is left, not the run aborted. */
export function unreadable(err: unknown): Refusal {
  if (err instanceof TensorDataError) return { code: 'unreadable-tensor', reason: err.message };
  throw err;
}

export function scopeRefusal(kind: UnreachableKind): Refusal {
  const reason = kind === 'function' ? 'function bodies are not folded (their weights are function inputs)' : 'training graphs are not folded';
  return { code: 'unsupported-scope', reason };
}

export function quoteList(names: string[]): string {
  return names.map((o) => `'${o}'`).join(', ');
}

function float64(r: FloatReader): Float64Array {
  const out = new Float64Array(r.count);
  for (let i = 0; i < out.length; i++) out[i] = r.get(i);
  return out;
}
