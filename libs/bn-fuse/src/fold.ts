// Folding inference-mode BatchNormalization into the op that produces its input.
//
// For output channel c, with s[c] = gamma[c] / sqrt(var[c] + eps):
//   W'[c, ...] = W[c, ...] * s[c]
//   b'[c]      = (b[c] - mean[c]) * s[c] + beta[c]          (b = 0 when the producer has no bias)
// computed in float64 and rounded once into the weight's dtype (bn-folding.md §1.5: rounding after
// every step, as ORT does for fp16, loses accuracy).
//
// A BN is left in place, with a reason in the report, whenever folding could change what any
// consumer sees: the producer output is read elsewhere or is a graph output, the BN is in training
// mode or its extra outputs are used, an input is not a constant initializer, the weight is shared,
// or shapes/dtypes/statistics do not fit (§2 and §6 of bn-folding.md). It never throws for a
// model it cannot fold; it only throws for a model without a graph.
//
// Graph surgery keeps the model valid and stable: the producer takes over the BN's output name
// (so graph outputs and downstream names never change), the producer stays where it was (so the
// node order stays topological), the fused weight and bias get fresh names that collide with no
// tensor in any scope (several tools broke models by reusing names: bn-folding.md §4), and only
// initializers that the fold itself orphaned are removed.
import { FOLD_PRODUCERS, FoldProducer, getAttribute, intAttribute } from './fold-producers';
import { NameRegistry, indexGraph, subgraphsOf } from './graph-index';
import { valueInfo } from './graph-builder';
import { DataType, GraphProto, ModelProto, NodeProto, TensorProto, int64ToNumber } from './onnx-types';
import { FLOAT_DATA_TYPES, TensorDataError, dataTypeName, encodeBfloat16, encodeFloat16, makeFloatTensor, readTensorFloat64, tensorDims } from './tensor';

/** Why a BatchNormalization was left in the graph. */
export type LeaveCode =
  | 'malformed-node'
  | 'training-mode'
  | 'non-spatial'
  | 'extra-outputs-used'
  | 'unsupported-producer'
  | 'producer-output-shared'
  | 'producer-output-is-graph-output'
  | 'non-constant-input'
  | 'shared-weight'
  | 'unreadable-tensor'
  | 'shape-mismatch'
  | 'invalid-statistics'
  | 'unsupported-scope';

export interface FoldedBatchNorm {
  /** The BN node's name (or a description from its output when unnamed). */
  batchNorm: string;
  producer: string;
  producerOp: string;
  epsilon: number;
  channels: number;
  weight: { from: string; to: string };
  bias: { from: string | null; to: string };
}

export interface LeftBatchNorm {
  batchNorm: string;
  code: LeaveCode;
  reason: string;
}

export interface FoldReport {
  batchNormFound: number;
  batchNormFolded: number;
  batchNormLeft: number;
  folded: FoldedBatchNorm[];
  left: LeftBatchNorm[];
  nodesBefore: number;
  nodesAfter: number;
  initializersAdded: string[];
  initializersRemoved: string[];
  /** Remarks that are not refusals (dropped unused optional outputs, IR < 4 input bookkeeping). */
  notes: string[];
}

export interface FoldOptions {
  /** Producer op types to fold into; default: every supported one (currently Conv). */
  producers?: readonly string[];
}

export interface FoldResult {
  model: ModelProto;
  report: FoldReport;
}

const ONNX_DOMAINS = new Set(['', 'ai.onnx']);
const DEFAULT_EPSILON = 1e-5;

export function isBatchNorm(node: NodeProto): boolean {
  return node.op_type === 'BatchNormalization' && ONNX_DOMAINS.has(node.domain ?? '');
}

export function describeNode(node: NodeProto): string {
  if (node.name) return node.name;
  return `${node.op_type ?? '?'} -> ${node.output[0] ?? '?'}`;
}

/** Default-domain opset version the model imports (ONNX IR < 3 models had none: opset 1). */
export function onnxOpsetVersion(model: ModelProto): number {
  const entry = model.opset_import.find((o) => ONNX_DOMAINS.has(o.domain ?? ''));
  return entry ? int64ToNumber(entry.version, 1) : 1;
}

type Refusal = { code: LeaveCode; reason: string };

interface FoldPlan {
  producerIndex: number;
  producer: FoldProducer;
  channels: number;
  epsilon: number;
  weight: TensorProto;
  bias?: TensorProto;
  /** Names of the BN's scale, B, mean, var. */
  params: string[];
  droppedOutputs: string[];
  newWeight: Float64Array;
  newBias: Float64Array;
}

export function foldBatchNorm(input: ModelProto, options: FoldOptions = {}): FoldResult {
  if (!input.graph) throw new Error('model has no graph');
  const producers = selectProducers(options.producers);
  const model = cloneForRewrite(input);
  const graph = model.graph as GraphProto;
  const report: FoldReport = {
    batchNormFound: 0,
    batchNormFolded: 0,
    batchNormLeft: 0,
    folded: [],
    left: [],
    nodesBefore: graph.node.length,
    nodesAfter: graph.node.length,
    initializersAdded: [],
    initializersRemoved: [],
    notes: [],
  };
  const irVersion = int64ToNumber(model.ir_version, 0);
  const opset = onnxOpsetVersion(model);
  const names = NameRegistry.forModel(model);
  const index = indexGraph(graph);
  const initializers = new Map(graph.initializer.map((t) => [t.name ?? '', t]));
  // Initializer order of the output: fused tensors go where the weight they replace was.
  const initOrder = graph.initializer.map((t) => t.name ?? '');
  const added = new Set<string>();
  const touched = new Set<string>();
  const removedNodes = new Set<number>();
  const removedTensors = new Set<string>();

  // IR >= 4 initializers that are also graph inputs can be overridden at run time: not constants.
  const isConstant = (name: string) => initializers.has(name) && !(irVersion >= 4 && index.graphInputs.has(name));
  const useCount = (name: string) => index.uses.get(name) ?? 0;
  const addUses = (name: string, delta: number) => {
    if (name) index.uses.set(name, useCount(name) + delta);
  };

  graph.node.forEach((bn, bnIndex) => {
    if (!isBatchNorm(bn)) return;
    report.batchNormFound++;
    const label = describeNode(bn);
    const plan = planFold(bn, { graph, index, producers, opset, isConstant, useCount, initializers, removedNodes });
    if ('code' in plan) {
      report.left.push({ batchNorm: label, ...plan });
      return;
    }
    const conv = graph.node[plan.producerIndex];
    const weightName = plan.weight.name ?? '';
    const biasName = plan.bias?.name ?? null;
    const weightType = plan.weight.data_type ?? DataType.FLOAT;
    const biasType = plan.bias?.data_type ?? weightType;
    const overflow = firstOverflow(plan.newWeight, weightType) ?? firstOverflow(plan.newBias, biasType);
    if (overflow !== undefined) {
      report.left.push({ batchNorm: label, code: 'invalid-statistics', reason: `a folded value (${overflow}) does not fit ${dataTypeName(weightType)}` });
      return;
    }
    const newWeightName = names.fresh(`${weightName}_bnfused`);
    const newBiasName = names.fresh(`${biasName ?? `${conv.name || weightName}_bias`}_bnfused`);
    const newWeight = makeFloatTensor(newWeightName, tensorDims(plan.weight), plan.newWeight, weightType);
    const newBias = makeFloatTensor(newBiasName, [plan.channels], plan.newBias, biasType);

    // Rewire: the producer reads the fused tensors and writes the BN's output.
    const xName = conv.output[0];
    const yName = bn.output[0];
    conv.input[plan.producer.weightInput] = newWeightName;
    while (conv.input.length <= plan.producer.biasInput) conv.input.push('');
    conv.input[plan.producer.biasInput] = newBiasName;
    conv.output[0] = yName;
    index.producer.set(yName, plan.producerIndex);
    index.producer.delete(xName);
    index.uses.delete(xName);
    removedTensors.add(xName);
    for (const dropped of plan.droppedOutputs) removedTensors.add(dropped);
    removedNodes.add(bnIndex);

    for (const name of [weightName, ...(biasName ? [biasName] : []), ...plan.params]) {
      addUses(name, -1);
      touched.add(name);
    }
    for (const t of [newWeight, newBias]) {
      const name = t.name ?? '';
      initializers.set(name, t);
      added.add(name);
      addUses(name, 1);
    }
    const at = initOrder.indexOf(weightName);
    initOrder.splice(at < 0 ? initOrder.length : at + 1, 0, newWeightName, newBiasName);

    if (plan.droppedOutputs.length > 0) {
      report.notes.push(`${label}: dropped unused optional outputs ${plan.droppedOutputs.map((o) => `'${o}'`).join(', ')}`);
    }
    report.folded.push({
      batchNorm: label,
      producer: describeNode(conv),
      producerOp: plan.producer.opType,
      epsilon: plan.epsilon,
      channels: plan.channels,
      weight: { from: weightName, to: newWeightName },
      bias: { from: biasName, to: newBiasName },
    });
  });

  // BNs in nested scopes are counted but not folded yet (subgraph support is a later step).
  for (const [where, labels] of nestedBatchNorms(model)) {
    for (const batchNorm of labels) {
      report.batchNormFound++;
      report.left.push({ batchNorm, code: 'unsupported-scope', reason: `inside ${where}; only the main graph is folded` });
    }
  }

  if (removedNodes.size > 0) {
    graph.node = graph.node.filter((_, i) => !removedNodes.has(i));
    const orphaned = new Set([...touched].filter((name) => useCount(name) <= 0 && !index.graphOutputs.has(name)));
    // A fused tensor superseded by a second fold (Conv -> BN -> BN) is orphaned as well.
    for (const name of added) if (useCount(name) <= 0) orphaned.add(name);
    graph.initializer = initOrder.filter((name) => !orphaned.has(name)).map((name) => initializers.get(name) as TensorProto);
    report.initializersRemoved = [...orphaned].filter((name) => !added.has(name));
    report.initializersAdded = [...added].filter((name) => !orphaned.has(name));
    for (const name of orphaned) removedTensors.add(name);
    graph.value_info = graph.value_info.filter((v) => !removedTensors.has(v.name ?? ''));
    graph.quantization_annotation = graph.quantization_annotation.filter((q) => !removedTensors.has(q.tensor_name ?? ''));
    if (irVersion < 4) {
      // IR < 4 requires every initializer to be listed as a graph input too.
      const listed = graph.input.filter((v) => index.graphInputs.has(v.name ?? '') && initializers.has(v.name ?? ''));
      if (listed.length > 0) {
        graph.input = graph.input.filter((v) => !orphaned.has(v.name ?? ''));
        for (const name of report.initializersAdded) {
          const t = initializers.get(name) as TensorProto;
          graph.input.push(valueInfo(name, tensorDims(t), t.data_type ?? DataType.FLOAT));
        }
        report.notes.push('IR < 4: graph inputs that mirror initializers were updated with them');
      }
    }
  }
  report.batchNormFolded = report.folded.length;
  report.batchNormLeft = report.left.length;
  report.nodesAfter = graph.node.length;
  return { model, report };
}

interface PlanContext {
  graph: GraphProto;
  index: ReturnType<typeof indexGraph>;
  producers: Readonly<Record<string, FoldProducer>>;
  opset: number;
  isConstant: (name: string) => boolean;
  useCount: (name: string) => number;
  initializers: Map<string, TensorProto>;
  removedNodes: Set<number>;
}

function planFold(bn: NodeProto, ctx: PlanContext): FoldPlan | Refusal {
  const { index, opset } = ctx;
  if (bn.input.length < 5 || bn.input.slice(0, 5).some((n) => n === '') || bn.output.length < 1 || bn.output[0] === '') {
    return { code: 'malformed-node', reason: 'BatchNormalization needs inputs X, scale, B, mean, var and an output Y' };
  }

  // Inference mode. BN-1/6: is_test (default 0 = training). BN-7/9: extra outputs mean training.
  // BN-14/15: training_mode (default 0); extra outputs are then invalid, harmless only if unused.
  const extra = bn.output.slice(1).filter((o) => o !== '');
  let droppedOutputs: string[] = [];
  if (opset < 7) {
    if (intAttribute(bn, 'is_test', 0) !== 1) return { code: 'training-mode', reason: `is_test is not 1 (BatchNormalization-${opset < 6 ? 1 : 6} defaults to training)` };
  }
  if (opset < 9 && intAttribute(bn, 'spatial', 1) !== 1) return { code: 'non-spatial', reason: 'spatial=0 (per-element statistics)' };
  if (opset >= 14 && intAttribute(bn, 'training_mode', 0) !== 0) return { code: 'training-mode', reason: 'training_mode=1 (uses batch statistics)' };
  if (extra.length > 0) {
    if (opset < 14) return { code: 'training-mode', reason: `optional outputs ${extra.map((o) => `'${o}'`).join(', ')} present (training mode before opset 14)` };
    const used = extra.filter((o) => ctx.useCount(o) > 0 || index.graphOutputs.has(o));
    if (used.length > 0) return { code: 'extra-outputs-used', reason: `optional outputs ${used.map((o) => `'${o}'`).join(', ')} are used` };
    droppedOutputs = extra;
  }

  const x = bn.input[0];
  const producerIndex = index.producer.get(x);
  if (producerIndex === undefined || ctx.removedNodes.has(producerIndex)) {
    const what = index.graphInputs.has(x) ? 'a graph input' : ctx.initializers.has(x) ? 'an initializer' : 'not produced by any node';
    return { code: 'unsupported-producer', reason: `input '${x}' is ${what}` };
  }
  const conv = ctx.graph.node[producerIndex];
  const producer = ONNX_DOMAINS.has(conv.domain ?? '') ? ctx.producers[conv.op_type ?? ''] : undefined;
  if (!producer) return { code: 'unsupported-producer', reason: `input '${x}' is produced by ${conv.op_type} '${describeNode(conv)}', not a foldable op` };
  if (conv.output.indexOf(x) !== 0) return { code: 'unsupported-producer', reason: `input '${x}' is not the first output of '${describeNode(conv)}'` };
  if (index.graphOutputs.has(x)) return { code: 'producer-output-is-graph-output', reason: `'${x}' (output of '${describeNode(conv)}') is also a graph output` };
  const xUses = ctx.useCount(x);
  if (xUses !== 1) return { code: 'producer-output-shared', reason: `'${x}' (output of '${describeNode(conv)}') has ${xUses} consumers` };

  const weightName = conv.input[producer.weightInput] ?? '';
  const biasName = conv.input[producer.biasInput] ?? '';
  const params = bn.input.slice(1, 5);
  const roles = ['scale', 'B', 'mean', 'var'];
  const constants: [string, string][] = [
    ['weight', weightName],
    ...(biasName ? [['bias', biasName] as [string, string]] : []),
    ...params.map((p, i) => [roles[i], p] as [string, string]),
  ];
  for (const [role, name] of constants) {
    if (!name) return { code: 'non-constant-input', reason: `${producer.opType} has no ${role} input` };
    if (!ctx.isConstant(name)) {
      const why = ctx.initializers.has(name) ? 'an initializer that is also a graph input (overridable)' : 'not a constant initializer';
      return { code: 'non-constant-input', reason: `${role} '${name}' is ${why}` };
    }
  }
  const weightUses = ctx.useCount(weightName);
  if (weightUses > 1) return { code: 'shared-weight', reason: `weight '${weightName}' is shared by ${weightUses} inputs` };

  const weight = ctx.initializers.get(weightName) as TensorProto;
  const bias = biasName ? (ctx.initializers.get(biasName) as TensorProto) : undefined;
  for (const [role, t] of [['weight', weight], ...(bias ? [['bias', bias]] : [])] as [string, TensorProto][]) {
    if (!FLOAT_DATA_TYPES.has(t.data_type ?? 0)) return { code: 'unreadable-tensor', reason: `${role} '${t.name}' has dtype ${dataTypeName(t.data_type)}` };
  }
  const dims = tensorDims(weight);
  const channelCheck = producer.outputChannels(conv, dims);
  if ('reason' in channelCheck) return { code: 'shape-mismatch', reason: channelCheck.reason };
  const C = channelCheck.channels;

  let w: Float64Array;
  let b: Float64Array;
  const vectors: Float64Array[] = [];
  try {
    w = readTensorFloat64(weight);
    b = bias ? readTensorFloat64(bias) : new Float64Array(C);
    for (const p of params) {
      const t = ctx.initializers.get(p) as TensorProto;
      if (t.dims.length !== 1) return { code: 'shape-mismatch', reason: `'${p}' has rank ${t.dims.length}, expected a 1-D vector of ${C}` };
      vectors.push(readTensorFloat64(t));
    }
  } catch (err) {
    if (err instanceof TensorDataError) return { code: 'unreadable-tensor', reason: err.message };
    throw err;
  }
  if (b.length !== C) return { code: 'shape-mismatch', reason: `bias '${biasName}' has ${b.length} values, expected ${C}` };
  for (let i = 0; i < 4; i++) {
    if (vectors[i].length !== C) return { code: 'shape-mismatch', reason: `${roles[i]} '${params[i]}' has ${vectors[i].length} values, the producer has ${C} output channels` };
  }

  const epsAttr = getAttribute(bn, 'epsilon');
  const epsilon = epsAttr?.f ?? DEFAULT_EPSILON;
  const [gamma, beta, mean, variance] = vectors;
  const s = new Float64Array(C);
  const newBias = new Float64Array(C);
  for (let c = 0; c < C; c++) {
    const denom = variance[c] + epsilon;
    if (!(denom > 0) || !Number.isFinite(denom)) {
      return { code: 'invalid-statistics', reason: `channel ${c}: var + epsilon = ${denom} (not a positive number)` };
    }
    s[c] = gamma[c] / Math.sqrt(denom);
    newBias[c] = (b[c] - mean[c]) * s[c] + beta[c];
    if (!Number.isFinite(s[c]) || !Number.isFinite(newBias[c])) {
      return { code: 'invalid-statistics', reason: `channel ${c}: folded scale/bias is not finite` };
    }
  }
  producer.scaleWeight(w, dims, conv, s);
  return { producerIndex, producer, channels: C, epsilon, weight, bias, params, droppedOutputs, newWeight: w, newBias };
}

/** The first finite value that would round to infinity in `dataType` (e.g. fp16 above 65504). */
function firstOverflow(values: Float64Array, dataType: number): number | undefined {
  for (const v of values) if (roundsToInfinity(v, dataType)) return v;
  return undefined;
}

function roundsToInfinity(v: number, dataType: number): boolean {
  switch (dataType) {
    case DataType.FLOAT:
      return !Number.isFinite(Math.fround(v));
    case DataType.FLOAT16:
      return (encodeFloat16(v) & 0x7fff) === 0x7c00;
    case DataType.BFLOAT16:
      return (encodeBfloat16(v) & 0x7fff) === 0x7f80;
    default:
      return false;
  }
}

function selectProducers(opTypes: readonly string[] | undefined): Readonly<Record<string, FoldProducer>> {
  if (!opTypes) return FOLD_PRODUCERS;
  const out: Record<string, FoldProducer> = {};
  for (const op of opTypes) {
    const p = FOLD_PRODUCERS[op];
    if (!p) throw new Error(`folding into ${op} is not supported (supported: ${Object.keys(FOLD_PRODUCERS).join(', ')})`);
    out[op] = p;
  }
  return out;
}

/**
 * Copies the parts of the model the fold rewrites (graph lists, node input/output arrays) and
 * shares the rest, tensors included: the input model is never modified.
 */
function cloneForRewrite(model: ModelProto): ModelProto {
  const g = model.graph as GraphProto;
  return {
    ...model,
    graph: {
      ...g,
      node: g.node.map((n) => ({ ...n, input: [...n.input], output: [...n.output] })),
      initializer: [...g.initializer],
      input: [...g.input],
      output: [...g.output],
      value_info: [...g.value_info],
      quantization_annotation: [...g.quantization_annotation],
    },
  };
}

/** BatchNormalization nodes in subgraphs and functions, by where they are. */
function nestedBatchNorms(model: ModelProto): [string, string[]][] {
  const out: [string, string[]][] = [];
  const visit = (graph: GraphProto, where: string, includeTop: boolean) => {
    if (includeTop) {
      const bns = graph.node.filter(isBatchNorm).map(describeNode);
      if (bns.length > 0) out.push([where, bns]);
    }
    for (const n of graph.node) {
      for (const g of subgraphsOf(n)) visit(g, `a subgraph of '${describeNode(n)}'`, true);
    }
  };
  if (model.graph) visit(model.graph, 'the main graph', false);
  for (const f of model.functions) {
    const bns = f.node.filter(isBatchNorm).map(describeNode);
    if (bns.length > 0) out.push([`function '${f.name}'`, bns]);
  }
  return out;
}
