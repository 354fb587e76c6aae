// Model-wide use counts and a registry of tensor names, for rewrites that must not remove or
// rename a tensor something still reads. Uses are counted in every graph, subgraphs (If, Loop,
// Scan bodies) and training graphs included: a branch body reading an outer-scope name counts.
import { AttributeProto, GraphProto, ModelProto, NodeProto, ValueInfoProto, int64ToApproxNumber } from './onnx-types';

export function subgraphsOf(node: NodeProto): GraphProto[] {
  const out: GraphProto[] = [];
  for (const attr of node.attribute) out.push(...attributeGraphs(attr));
  return out;
}

function attributeGraphs(attr: AttributeProto): GraphProto[] {
  return [...(attr.g ? [attr.g] : []), ...attr.graphs];
}

/** Every tensor name in the model's graphs (all scopes), so new names can avoid all of them. */
export class NameRegistry {
  private readonly names = new Set<string>();

  static forModel(model: ModelProto): NameRegistry {
    const registry = new NameRegistry();
    if (model.graph) registry.addGraph(model.graph);
    for (const t of model.training_info) {
      if (t.initialization) registry.addGraph(t.initialization);
      if (t.algorithm) registry.addGraph(t.algorithm);
    }
    return registry;
  }

  addGraph(graph: GraphProto): void {
    for (const v of [...graph.input, ...graph.output, ...graph.value_info]) if (v.name) this.names.add(v.name);
    for (const t of graph.initializer) if (t.name) this.names.add(t.name);
    for (const s of graph.sparse_initializer) if (s.values?.name) this.names.add(s.values.name);
    for (const n of graph.node) {
      for (const name of [...n.input, ...n.output]) if (name) this.names.add(name);
      for (const g of subgraphsOf(n)) this.addGraph(g);
    }
  }

  has(name: string): boolean {
    return this.names.has(name);
  }

  /** Returns `base`, or `base_1`, `base_2`, ... : the first not yet used, and reserves it. */
  fresh(base: string): string {
    let name = base;
    for (let i = 1; this.names.has(name); i++) name = `${base}_${i}`;
    this.names.add(name);
    return name;
  }
}

/** Graph inputs that are not initializers (IR < 4 lists initializers as inputs too). */
export function runtimeInputs(model: ModelProto): ValueInfoProto[] {
  const graph = model.graph;
  if (!graph) return [];
  const init = new Set(graph.initializer.map((t) => t.name));
  return graph.input.filter((v) => !init.has(v.name));
}

/** Every graph of a model (main graph, then subgraphs depth-first, then training graphs). */
function allGraphs(model: ModelProto): GraphProto[] {
  const out: GraphProto[] = [];
  const visit = (g: GraphProto) => {
    out.push(g);
    for (const n of g.node) for (const s of subgraphsOf(n)) visit(s);
  };
  if (model.graph) visit(model.graph);
  for (const t of model.training_info) {
    if (t.initialization) visit(t.initialization);
    if (t.algorithm) visit(t.algorithm);
  }
  return out;
}

export interface ModelUses {
  /**
   * Tensor name -> number of node input slots reading it, in every graph of the model (subgraphs
   * and training graphs included; training bindings count as reads too). Valid ONNX names are
   * unique across scopes, so counting by name is exact; a model that shadows names only gets
   * more conservative counts.
   */
  uses: Map<string, number>;
  /** Names that are an output of any graph (main graph or subgraph). */
  graphOutputs: Set<string>;
}

export function countModelUses(model: ModelProto): ModelUses {
  const uses = new Map<string, number>();
  const graphOutputs = new Set<string>();
  const use = (name: string | undefined) => {
    if (name) uses.set(name, (uses.get(name) ?? 0) + 1);
  };
  for (const g of allGraphs(model)) {
    for (const n of g.node) n.input.forEach(use);
    for (const o of g.output) if (o.name) graphOutputs.add(o.name);
  }
  for (const t of model.training_info) {
    for (const b of [...t.initialization_binding, ...t.update_binding]) {
      use(b.key);
      use(b.value);
    }
  }
  return { uses, graphOutputs };
}

const ONNX_DOMAINS: ReadonlySet<string> = new Set(['', 'ai.onnx']);

/** The default ONNX operator domain, under either of its spellings. */
export function isOnnxDomain(domain: string | undefined): boolean {
  return ONNX_DOMAINS.has(domain ?? '');
}

/** A BatchNormalization of the default ONNX domain. */
export function isBatchNorm(node: NodeProto): boolean {
  return node.op_type === 'BatchNormalization' && isOnnxDomain(node.domain);
}

/** A node as messages name it: its name, or its op and first output. */
export function describeNode(node: NodeProto): string {
  if (node.name) return node.name;
  return `${node.op_type ?? '?'} -> ${node.output[0] ?? '?'}`;
}

/** Default-domain opset version the model imports (ONNX IR < 3 models had none: opset 1). */
export function onnxOpsetVersion(model: ModelProto): number {
  const entry = model.opset_import.find((o) => isOnnxDomain(o.domain));
  return entry ? int64ToApproxNumber(entry.version, 1) : 1;
}
