// What gets quantized, decided from the graph alone: every Conv whose weight (and bias) are float
// initializers, unless kept in fp32. A quantized Conv reads its input through a Q/DQ pair and has
// a Q/DQ pair on its activation output: the Conv's output, or the output of the Relu or Clip(0, c)
// that is its only consumer, because onnxruntime removes such an activation into the following Q
// (whose uint8 zero point 0 clamps the negatives) and then fuses DQ -> Conv -> Q into QLinearConv.
import { DataType, type GraphProto, type ModelProto, type NodeProto, type TensorProto, readTensorFloat64 } from '@edge-ssd/onnx-io';

export interface ConvSite {
  /** Index of the Conv in graph.node. */
  index: number;
  name: string;
  input: string;
  weight: string;
  bias?: string;
  /** The tensor that gets the output Q/DQ pair: the Conv's output or its Relu/Clip's. */
  output: string;
  /** Upper bound of a Clip(0, c) between the Conv and the Q. */
  ceiling?: number;
  /** No Conv reads this Conv's output: an SSD head (its output goes to reshapes and the concat). */
  head: boolean;
}

export interface QuantPlan {
  /** Convs to quantize, in graph order. */
  convs: ConvSite[];
  /** Convs that could be quantized but are kept in fp32, in graph order. */
  kept: ConvSite[];
  /** Activation tensors that get a Q/DQ pair, in graph order (their first appearance). */
  tensors: string[];
}

function graphOf(model: ModelProto): GraphProto {
  if (!model.graph) throw new Error('the model has no graph');
  return model.graph;
}

function isFloatInitializer(initializers: Map<string, TensorProto>, name: string | undefined, rank?: number): boolean {
  const t = name === undefined ? undefined : initializers.get(name);
  return t !== undefined && t.data_type === DataType.FLOAT && (rank === undefined || t.dims.length === rank);
}

function scalarOf(initializers: Map<string, TensorProto>, name: string | undefined): number | undefined {
  const t = name === undefined || name === '' ? undefined : initializers.get(name);
  if (!t || t.data_type !== DataType.FLOAT) return undefined;
  const v = readTensorFloat64(t);
  return v.length === 1 ? v[0] : undefined;
}

/** Consumers of each tensor, as node indices in graph order. */
export function consumersOf(graph: GraphProto): Map<string, number[]> {
  const consumers = new Map<string, number[]>();
  graph.node.forEach((node, i) => {
    for (const name of new Set(node.input)) {
      if (name === '') continue;
      const list = consumers.get(name) ?? [];
      list.push(i);
      consumers.set(name, list);
    }
  });
  return consumers;
}

/** The Relu or Clip(0, c > 0) that is the Conv output's only consumer, with the Clip's c. */
function absorbedActivation(graph: GraphProto, conv: NodeProto, consumers: Map<string, number[]>, initializers: Map<string, TensorProto>, outputs: Set<string>): { node: NodeProto; ceiling?: number } | undefined {
  const out = conv.output[0];
  const next = consumers.get(out) ?? [];
  if (next.length !== 1 || outputs.has(out)) return undefined;
  const node = graph.node[next[0]];
  if ((node.domain ?? '') !== '' || node.input[0] !== out) return undefined;
  if (node.op_type === 'Relu') return { node };
  if (node.op_type !== 'Clip' || node.attribute.length > 0) return undefined;
  const lo = scalarOf(initializers, node.input[1]);
  const hi = scalarOf(initializers, node.input[2]);
  return lo === 0 && hi !== undefined && hi > 0 ? { node, ceiling: hi } : undefined;
}

/** Candidate Convs, quantized or not: float weight of rank 4, optional float bias of rank 1. */
function convSites(model: ModelProto): ConvSite[] {
  const graph = graphOf(model);
  const initializers = new Map(graph.initializer.map((t) => [t.name ?? '', t]));
  const consumers = consumersOf(graph);
  const outputs = new Set(graph.output.map((o) => o.name ?? ''));
  const sites: ConvSite[] = [];
  graph.node.forEach((node, index) => {
    if (node.op_type !== 'Conv' || (node.domain ?? '') !== '' || node.output.length !== 1) return;
    const [input, weight, bias] = node.input;
    if (!input || initializers.has(input) || !isFloatInitializer(initializers, weight, 4)) return;
    if (bias !== undefined && bias !== '' && !isFloatInitializer(initializers, bias, 1)) return;
    const activation = absorbedActivation(graph, node, consumers, initializers, outputs);
    const output = activation ? activation.node.output[0] : node.output[0];
    // A graph output keeps its name and its float values: no Q/DQ on it, so no fusion for this Conv.
    if (outputs.has(output)) return;
    sites.push({
      index,
      name: node.name ?? node.output[0],
      input,
      weight: weight!,
      ...(bias ? { bias } : {}),
      output,
      ...(activation?.ceiling === undefined ? {} : { ceiling: activation.ceiling }),
      head: false,
    });
  });
  const convInputs = new Set(sites.map((s) => s.input));
  for (const s of sites) s.head = !convInputs.has(s.output);
  return sites;
}

function globToRegExp(glob: string): RegExp {
  return new RegExp(`^${glob.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*')}$`);
}

/**
 * A `--keep-fp32` pattern: `heads` (Convs no other Conv reads, the SSD heads), `op:Conv` (by op
 * type), or a node name with `*` wildcards. Throws on a pattern that matches no node, so a typo
 * never silently quantizes what the user meant to keep.
 */
export function keepMatcher(model: ModelProto, patterns: readonly string[]): (site: ConvSite) => boolean {
  const graph = graphOf(model);
  const tests = patterns.map((p) => {
    if (p === 'heads') return (s: ConvSite) => s.head;
    if (p.startsWith('op:')) return (s: ConvSite) => graph.node[s.index].op_type === p.slice(3);
    const re = globToRegExp(p);
    return (s: ConvSite) => re.test(s.name);
  });
  const sites = convSites(model);
  patterns.forEach((p, i) => {
    if (!p.startsWith('op:') && p !== 'heads' && !graph.node.some((n) => globToRegExp(p).test(n.name ?? ''))) throw new RangeError(`--keep-fp32 '${p}' matches no node`);
    if (p === 'heads' && !sites.some(tests[i])) throw new RangeError("--keep-fp32 'heads' matches no Conv");
  });
  return (s) => tests.some((t) => t(s));
}

/** The quantization plan; `keep` selects Convs to leave in fp32. */
export function planQuantization(model: ModelProto, keep: (site: ConvSite) => boolean = () => false): QuantPlan {
  const sites = convSites(model);
  const convs = sites.filter((s) => !keep(s));
  const kept = sites.filter((s) => keep(s));
  return { convs, kept, tensors: orderedTensors(model, convs) };
}

/** Every tensor a calibration table must cover: those of the plan with nothing kept. */
export function calibrationTensors(model: ModelProto): string[] {
  return planQuantization(model).tensors;
}

function orderedTensors(model: ModelProto, convs: readonly ConvSite[]): string[] {
  const wanted = new Set(convs.flatMap((s) => [s.input, s.output]));
  const graph = graphOf(model);
  const order: string[] = [];
  const seen = new Set<string>();
  const visit = (name: string) => {
    if (wanted.has(name) && !seen.has(name)) {
      seen.add(name);
      order.push(name);
    }
  };
  for (const i of graph.input) visit(i.name ?? '');
  for (const n of graph.node) for (const name of [...n.input, ...n.output]) visit(name);
  return order;
}
