// Storing a fold: the fused weight and bias tensors, their names, and the graph surgery.
//
// Surgery keeps the model valid and stable: the producer takes over the BN's output name (so graph
// outputs and downstream names never change), the producer stays where it was (so the node order
// stays topological), the fused weight and bias get fresh names that collide with no tensor in any
// scope (several tools broke models by reusing names: bn-folding.md §4), nothing is overwritten in
// place (a shared weight stays for its other readers), and only initializers that the fold itself
// orphaned are removed (with their value_info entries).
import {
  DataType,
  ExternalDataLoader,
  GraphProto,
  LazyTensorData,
  ModelProto,
  ModelUses,
  NameRegistry,
  NodeProto,
  TensorProto,
  describeNode,
  floatWidth,
  makeFloatTensor,
  makeLazyTensor,
  makeRawTensor,
  tensorBytesInto,
  tensorDims,
  valueInfo,
} from '@edge-ssd/onnx-io';
import { Candidate, quoteList } from './eligibility';
import { ChannelFoldInput, FoldProblem, foldChannels } from './fold-math';
import { setFloatAttribute } from './fold-producers';
import type { Scope } from './match';

/** The values of the fused tensors; a deferred weight is computed again whenever it is read. */
export interface FusedData {
  weight: Uint8Array | LazyTensorData;
  bias: Float64Array;
}

/** Bytes of the window a deferred weight is streamed through. */
const WINDOW_BYTES = 1 << 20;

/**
 * Runs the fold's arithmetic over the candidate's weight. Eager: the weight is read whole and W'
 * kept. Deferred (main graph only, see FoldOptions.deferWeights): W' is checked now window by window
 * and computed again, window by window, when the model is written, so the folded model never holds
 * a copy of the weights. Throws TensorDataError when the weight cannot be read.
 */
export function fuseTensors(c: Candidate, deferred: boolean, externalData: ExternalDataLoader | undefined): FusedData | FoldProblem {
  const weight = c.weight.tensor;
  const width = floatWidth(c.weightType);
  const fold = (bytes: Uint8Array, firstElement: number) => foldChannels(foldInput(c, bytes, firstElement));
  if (!deferred) {
    const bytes = new Uint8Array(c.weightBytes);
    tensorBytesInto(weight, bytes, 0, externalData);
    const r = fold(bytes, 0);
    return 'problem' in r ? r : { weight: r.weight, bias: r.bias };
  }
  const window = new Uint8Array(Math.min(WINDOW_BYTES, c.weightBytes));
  let bias: Float64Array | undefined;
  // At least one pass, so an empty weight still gets its bias.
  for (let offset = 0; bias === undefined || offset < c.weightBytes; ) {
    const piece = window.subarray(0, Math.min(window.byteLength, c.weightBytes - offset));
    tensorBytesInto(weight, piece, offset, externalData);
    const r = fold(piece, offset / width);
    if ('problem' in r) return r;
    bias ??= r.bias;
    offset += piece.byteLength;
  }
  return {
    bias,
    weight: {
      byteLength: c.weightBytes,
      readInto: (target, offset) => {
        if (offset % width !== 0 || target.byteLength % width !== 0) throw new Error(`unaligned read of a ${width}-byte element tensor`);
        tensorBytesInto(weight, target, offset, externalData);
        const r = fold(target, offset / width);
        if ('problem' in r) throw new Error(`fused weight '${weight.name}' no longer folds (${r.problem}): its source changed after the fold`);
        target.set(r.weight);
      },
    },
  };
}

function foldInput(c: Candidate, weight: Uint8Array, firstElement: number): ChannelFoldInput {
  return { ...c.statistics, epsilon: c.epsilon, layout: c.layout, weight, weightType: c.weightType, firstElement, bias: c.biasValues, biasType: c.biasType };
}

export interface RewriteContext {
  names: NameRegistry;
  uses: ModelUses;
}

/** What a fold changed, for the report. */
export interface AppliedFold {
  producer: string;
  /** Before the fold (a MatMul becomes a Gemm). */
  producerOp: string;
  weight: { from: string; to: string };
  bias: { from: string | null; to: string };
}

/** Rewires the producer to the fused tensors and the BN's output, and drops the BN. */
export function applyFold(ctx: RewriteContext, bn: NodeProto, bnIndex: number, scope: Scope, c: Candidate, fused: FusedData): AppliedFold {
  const conv = scope.graph.node[c.producerIndex];
  const producer = describeNode(conv);
  const producerOp = conv.op_type ?? '';
  const weightName = c.weight.tensor.name ?? '';
  const biasName = c.bias?.tensor.name ?? null;
  const newWeightName = ctx.names.fresh(`${weightName}_bnfused`);
  const newBiasName = ctx.names.fresh(`${biasName ?? `${conv.name || weightName}_bias`}_bnfused`);
  const dims = tensorDims(c.weight.tensor);
  const newWeight = fused.weight instanceof Uint8Array ? makeRawTensor(newWeightName, dims, c.weightType, fused.weight) : makeLazyTensor(newWeightName, dims, c.weightType, fused.weight);
  const newBias = makeFloatTensor(newBiasName, c.layout.bias.dims, fused.bias, c.biasType);

  const xName = conv.output[0];
  const yName = bn.output[0];
  conv.input[c.producer.weightInput] = newWeightName;
  while (conv.input.length <= c.producer.biasInput) conv.input.push('');
  conv.input[c.producer.biasInput] = newBiasName;
  conv.output[0] = yName;
  if (c.layout.opType) conv.op_type = c.layout.opType;
  for (const [name, value] of Object.entries(c.layout.floatAttributes ?? {})) setFloatAttribute(conv, name, value);
  scope.producer.set(yName, c.producerIndex);
  scope.producer.delete(xName);
  ctx.uses.uses.delete(xName);
  scope.removedTensors.add(xName);
  for (const dropped of c.droppedOutputs) scope.removedTensors.add(dropped);
  scope.removedNodes.add(bnIndex);

  const released: { name: string; owner: Scope }[] = [
    { name: weightName, owner: c.weight.owner },
    ...(biasName && c.bias ? [{ name: biasName, owner: c.bias.owner }] : []),
    ...c.params,
  ];
  for (const { name, owner } of released) {
    addUses(ctx.uses, name, -1);
    owner.touched.add(name);
  }
  for (const t of [newWeight, newBias]) {
    const name = t.name ?? '';
    scope.initializers.set(name, t);
    scope.added.add(name);
    addUses(ctx.uses, name, 1);
  }
  const at = c.weight.owner === scope ? scope.initOrder.indexOf(weightName) : -1;
  scope.initOrder.splice(at < 0 ? scope.initOrder.length : at + 1, 0, newWeightName, newBiasName);
  return { producer, producerOp, weight: { from: weightName, to: newWeightName }, bias: { from: biasName, to: newBiasName } };
}

function addUses(uses: ModelUses, name: string, delta: number): void {
  if (name) uses.uses.set(name, (uses.uses.get(name) ?? 0) + delta);
}

/** What finishing a scope changed, for the report. */
export interface FinishedScope {
  added: string[];
  removed: string[];
  notes: string[];
}

/**
 * Writes a scope's edits into its graph once every fold is done (a later fold may orphan a tensor
 * an earlier one added: Conv -> BN -> BN): removed nodes, initializers in their new order without
 * the orphaned ones, value_info and quantization annotations of removed tensors, and in the main
 * graph, graph inputs that mirror initializers.
 */
export function finishScope(scope: Scope, uses: ModelUses, irVersion: number): FinishedScope {
  const out: FinishedScope = { added: [], removed: [], notes: [] };
  const graph = scope.graph;
  if (scope.removedNodes.size === 0 && scope.touched.size === 0 && scope.added.size === 0) return out;
  const useCount = (name: string) => uses.uses.get(name) ?? 0;
  if (scope.removedNodes.size > 0) graph.node = graph.node.filter((_, i) => !scope.removedNodes.has(i));
  const orphaned = new Set([...scope.touched].filter((name) => useCount(name) <= 0 && !uses.graphOutputs.has(name)));
  // A fused tensor superseded by a second fold (Conv -> BN -> BN) is orphaned as well.
  for (const name of scope.added) if (useCount(name) <= 0) orphaned.add(name);
  graph.initializer = scope.initOrder.filter((name) => !orphaned.has(name)).map((name) => scope.initializers.get(name) as TensorProto);
  const removed = [...orphaned].filter((name) => !scope.added.has(name));
  const added = [...scope.added].filter((name) => !orphaned.has(name));
  out.removed = removed;
  out.added = added;
  for (const name of orphaned) scope.removedTensors.add(name);
  graph.value_info = graph.value_info.filter((v) => !scope.removedTensors.has(v.name ?? ''));
  graph.quantization_annotation = graph.quantization_annotation.filter((q) => !scope.removedTensors.has(q.tensor_name ?? ''));
  if (scope.parent) return out;
  const listsInitializers = graph.input.some((v) => scope.initializers.has(v.name ?? ''));
  if (irVersion < 4 && listsInitializers) {
    // IR < 4 requires every initializer to be listed as a graph input too.
    graph.input = graph.input.filter((v) => !orphaned.has(v.name ?? ''));
    for (const name of added) {
      const t = scope.initializers.get(name) as TensorProto;
      graph.input.push(valueInfo(name, tensorDims(t), t.data_type ?? DataType.FLOAT));
    }
    out.notes.push('IR < 4: graph inputs that mirror initializers were updated with them');
  } else if (listsInitializers && removed.some((name) => scope.inputs.has(name))) {
    // initializerInputs 'fold': a folded-away initializer input would otherwise become a required input.
    graph.input = graph.input.filter((v) => !orphaned.has(v.name ?? ''));
    out.notes.push(`initializers folded away were removed from the graph inputs: ${quoteList(removed.filter((n) => scope.inputs.has(n)))}`);
  }
  return out;
}

/**
 * Copies the parts of the model the fold rewrites (graph lists, node input/output/attribute arrays,
 * subgraphs at any depth) and shares the rest, tensors included: the input model is never modified.
 */
export function cloneForRewrite(model: ModelProto): ModelProto {
  return { ...model, graph: cloneGraph(model.graph as GraphProto) };
}

function cloneGraph(g: GraphProto): GraphProto {
  return {
    ...g,
    node: g.node.map(cloneNode),
    initializer: [...g.initializer],
    input: [...g.input],
    output: [...g.output],
    value_info: [...g.value_info],
    quantization_annotation: [...g.quantization_annotation],
  };
}

function cloneNode(n: NodeProto): NodeProto {
  return {
    ...n,
    input: [...n.input],
    output: [...n.output],
    attribute: n.attribute.map((a) => (a.g || a.graphs.length > 0 ? { ...a, ...(a.g ? { g: cloneGraph(a.g) } : {}), graphs: a.graphs.map(cloneGraph) } : a)),
  };
}
