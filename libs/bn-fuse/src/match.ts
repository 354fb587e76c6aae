// Finding what a fold works on: every graph that may hold a BatchNormalization (main graph, then
// If/Loop/Scan bodies depth first), the node producing a BN's input, and where a name is defined
// when looking outwards through enclosing graphs. Only queries: whether a match may be folded is
// eligibility.ts's call, and rewrite.ts keeps a Scope current as it edits the graph, so that a
// later BN sees the rewritten producer (Conv -> BN -> BN folds twice).
import { AttributeProto, GraphProto, ModelProto, NodeProto, TensorProto, ValueInfoProto, describeNode, int64ToSafeNumber, isBatchNorm, isOnnxDomain, subgraphsOf } from '@edge-ssd/onnx-io';

/** One graph being folded, with its enclosing graph. */
export interface Scope {
  graph: GraphProto;
  /** '' for the main graph, else e.g. "If 'branchy' then_branch". */
  where: string;
  parent?: Scope;
  /** Tensor name -> index of the node producing it. */
  producer: Map<string, number>;
  inputs: Set<string>;
  sparse: Set<string>;
  declared: Map<string, ValueInfoProto>;
  initializers: Map<string, TensorProto>;
  /** Initializer order of the output: fused tensors go right after the weight they replace. */
  initOrder: string[];
  removedNodes: Set<number>;
  removedTensors: Set<string>;
  added: Set<string>;
  /** Initializers of this graph whose use count the fold decreased. */
  touched: Set<string>;
}

export function makeScope(graph: GraphProto, where: string, parent: Scope | undefined): Scope {
  const producer = new Map<string, number>();
  graph.node.forEach((n, i) => {
    for (const o of n.output) if (o) producer.set(o, i);
  });
  const declared = new Map<string, ValueInfoProto>();
  for (const v of [...graph.input, ...graph.output, ...graph.value_info]) if (v.name && !declared.has(v.name)) declared.set(v.name, v);
  return {
    graph,
    where,
    parent,
    producer,
    inputs: new Set(graph.input.map((v) => v.name ?? '')),
    sparse: new Set(graph.sparse_initializer.map((t) => t.values?.name ?? '')),
    declared,
    initializers: new Map(graph.initializer.map((t) => [t.name ?? '', t])),
    initOrder: graph.initializer.map((t) => t.name ?? ''),
    removedNodes: new Set(),
    removedTensors: new Set(),
    added: new Set(),
    touched: new Set(),
  };
}

/**
 * The subgraphs of a scope's remaining nodes, in node and attribute order. Lazy: a subgraph's scope
 * is made when the caller gets to it, after the folds before it.
 */
export function* subgraphScopes(scope: Scope): Generator<Scope> {
  for (const [i, node] of scope.graph.node.entries()) {
    if (scope.removedNodes.has(i)) continue;
    for (const attr of node.attribute) {
      const graphs = attributeGraphs(attr);
      for (const [k, g] of graphs.entries()) {
        const name = `${node.op_type} '${describeNode(node)}' ${attr.name}${graphs.length > 1 || attr.graphs.length > 0 ? `[${k}]` : ''}`;
        yield makeScope(g, scope.where ? `${scope.where} > ${name}` : name, scope);
      }
    }
  }
}

function attributeGraphs(attr: AttributeProto): GraphProto[] {
  return [...(attr.g ? [attr.g] : []), ...attr.graphs];
}

export type UnreachableKind = 'function' | 'training';

/** BNs the fold does not visit: in function bodies and training graphs (subgraphs included). */
export function unreachableBatchNorms(model: ModelProto): { node: NodeProto; where: string; kind: UnreachableKind }[] {
  const out: { node: NodeProto; where: string; kind: UnreachableKind }[] = [];
  const visit = (nodes: NodeProto[], where: string, kind: UnreachableKind) => {
    for (const n of nodes) {
      if (isBatchNorm(n)) out.push({ node: n, where, kind });
      for (const g of subgraphsOf(n)) visit(g.node, where, kind);
    }
  };
  for (const f of model.functions) visit(f.node, `function '${f.name}'`, 'function');
  model.training_info.forEach((t, i) => {
    for (const [kind, g] of [['initialization', t.initialization], ['algorithm', t.algorithm]] as const) {
      if (g) visit(g.node, `training_info[${i}].${kind}`, 'training');
    }
  });
  return out;
}

/** Index of the (not removed) node of this scope that produces `name`. */
export function producerOf(name: string, scope: Scope): number | undefined {
  const i = scope.producer.get(name);
  return i === undefined || scope.removedNodes.has(i) ? undefined : i;
}

/** A constant initializer and the graph holding it. */
export interface Operand {
  tensor: TensorProto;
  owner: Scope;
}

/** Why a name is not a constant; `outer` when it is a node output of an enclosing graph. */
export interface NotConstant {
  why: string;
  outer?: boolean;
}

/**
 * Where `name` is defined, looking outwards from `scope`: a constant tensor, or why it is not one.
 * An initializer that is also a graph input is a default callers may override, so it is constant
 * only in the main graph and only when `mainInputsAreConstant` (IR < 4, or by option).
 */
export function resolve(name: string, scope: Scope, mainInputsAreConstant: boolean): Operand | NotConstant {
  for (let s: Scope | undefined = scope; s; s = s.parent) {
    const idx = s.producer.get(name);
    if (idx !== undefined && !s.removedNodes.has(idx)) {
      const n = s.graph.node[idx];
      return { why: `the output of ${n.op_type} '${describeNode(n)}'${s === scope ? '' : ` in ${s.where || 'the main graph'}`}`, outer: s !== scope };
    }
    const t = s.initializers.get(name);
    if (t) {
      if (s.inputs.has(name) && !(mainInputsAreConstant && !s.parent)) {
        return { why: 'an initializer that is also a graph input, so it can be overridden at run time (see --initializer-inputs)' };
      }
      return { tensor: t, owner: s };
    }
    if (s.inputs.has(name)) return { why: s.parent ? `an input of the subgraph ${s.where}` : 'a graph input' };
    if (s.sparse.has(name)) return { why: 'a sparse initializer' };
  }
  return { why: 'not defined in any enclosing graph' };
}

const SHAPE_PRESERVING_OPS = new Set([
  'Abs', 'BatchNormalization', 'Cast', 'Celu', 'Clip', 'Dropout', 'Elu', 'Erf', 'Exp', 'Gelu', 'HardSigmoid', 'HardSwish', 'Identity',
  'LeakyRelu', 'Log', 'Mish', 'Neg', 'Relu', 'Selu', 'Sigmoid', 'Softplus', 'Softsign', 'Sqrt', 'Tanh', 'ThresholdedRelu',
]);

/** Rank of `name` when declared (value_info, inputs, outputs) or derivable from its producer. */
export function rankOf(name: string, scope: Scope, mainInputsAreConstant: boolean, depth = 0): number | undefined {
  if (depth > 16) return undefined;
  for (let s: Scope | undefined = scope; s; s = s.parent) {
    const declared = s.declared.get(name)?.type?.tensor_type?.shape;
    if (declared) return declared.dim.length;
    const t = s.initializers.get(name);
    if (t) return t.dims.length;
    const idx = s.producer.get(name);
    if (idx === undefined) {
      if (s.inputs.has(name)) return undefined;
      continue;
    }
    const here = s;
    const n = here.graph.node[idx];
    if (!isOnnxDomain(n.domain) || n.output[0] !== name) return undefined;
    const rankOfInput = (i: number) => rankOf(n.input[i], here, mainInputsAreConstant, depth + 1);
    switch (n.op_type) {
      case 'Flatten':
      case 'Gemm':
        return 2;
      case 'MatMul':
        return rankOfInput(0) === 2 && rankOfInput(1) === 2 ? 2 : undefined;
      case 'Reshape': {
        const shape = resolve(n.input[1] ?? '', here, mainInputsAreConstant);
        return 'tensor' in shape && shape.tensor.dims.length === 1 ? int64ToSafeNumber(shape.tensor.dims[0]) : undefined;
      }
      default:
        return SHAPE_PRESERVING_OPS.has(n.op_type ?? '') ? rankOfInput(0) : undefined;
    }
  }
  return undefined;
}
