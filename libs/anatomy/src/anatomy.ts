// The anatomy of an SSD model, read from its graph: which convolutions are the loc/conf heads
// (found by walking back from the spec's outputs through layout operators), the feature map each
// head reads (shape inference), its priors per location (the loc head's channels / 4), its
// PriorBox parameters (the spec), the smallest object a k x k window on that map covers, and the
// parameters and multiply-adds of the base network, the extra layers and the heads, at the
// model's input size and, for the cost factor, at another one.
import { DataType, type GraphProto, type ModelProto, type NodeProto } from '@edge-ssd/onnx-io';
import { type PriorBoxHead, type SsdSpec, SsdSpecError, priorBoxHeadCount, specFromMetadata } from '@edge-ssd/ssd-core';
import { AnatomyError, type GraphShapes, type Shape, inferShapes, intAttr } from './shapes';

/** Operators a head's output passes through on its way to the loc/conf outputs. */
const LAYOUT = new Set(['Reshape', 'Transpose', 'Flatten', 'Concat', 'Softmax', 'Identity', 'Squeeze', 'Unsqueeze']);
/** Operators with multiply-adds counted: the rest (activations, elementwise, pooling) are not. */
const WEIGHTED = new Set(['Conv', 'Gemm', 'MatMul']);
/** A convolution's epilogue: what a source layer's name is looked up through (conv11 for conv11/relu). */
const EPILOGUE = new Set(['Relu', 'Clip', 'LeakyRelu', 'PRelu', 'Sigmoid', 'Tanh', 'HardSwish', 'BatchNormalization']);

export type Part = 'base' | 'extra' | 'heads';
export const PARTS: readonly Part[] = ['base', 'extra', 'heads'];

export interface Cost {
  params: number;
  macs: number;
}

export interface HeadAnatomy {
  /** The layer the head reads: the node before its activation (conv11, fc7, conv4_3_norm). */
  source: string;
  /** [height, width] of the feature map. */
  featureMap: [number, number];
  channels: number;
  /** Kernel [kh, kw] of the loc and conf convolutions. */
  kernel: [number, number];
  priorsPerLocation: number;
  priors: number;
  /** PriorBox parameters in pixels of the input (spec heads); undefined for a prior table. */
  minSizes?: number[];
  maxSizes?: number[];
  aspectRatios?: number[];
  /** [step_h, step_w] in input pixels, and whether the spec gives it or it is input / map (Caffe's default). */
  step: [number, number];
  stepGiven: boolean;
  /** Prior box sizes (w x h, pixels) of one location, from the prior table, when the spec has no PriorBox heads. */
  tableBoxes?: [number, number][];
  /** k / feature-map size: the fraction of the input a k x k window on the map covers, [height, width]. */
  smallestObject: [number, number];
}

interface SizedAnatomy {
  input: { height: number; width: number };
  heads: { featureMap: [number, number]; priors: number; smallestObject: [number, number] }[];
  priors: number;
  cost: Record<Part | 'total', Cost>;
}

export interface ModelAnatomy {
  name: string;
  k: number;
  input: { height: number; width: number };
  heads: HeadAnatomy[];
  priors: number;
  cost: Record<Part | 'total', Cost>;
  /** The same graph at another input size, with its cost over this one's, when asked for. */
  at?: SizedAnatomy & { factor: Record<Part | 'total', { params: number; macs: number }> };
}

export interface AnatomyOptions {
  /** Window size in feature-map cells for the smallest-object fraction; default 4. */
  k?: number;
  /** Another square input size to size the graph at (its cost factor over the model's own). */
  at?: number;
}

interface Structure {
  graph: GraphProto;
  spec: SsdSpec;
  heads: { loc: NodeProto; conf: NodeProto }[];
  part: Map<NodeProto, Part>;
  producers: Map<string, NodeProto>;
}

function producersOf(graph: GraphProto): Map<string, NodeProto> {
  const m = new Map<string, NodeProto>();
  for (const n of graph.node) for (const o of n.output) m.set(o, n);
  return m;
}

/** The Conv nodes feeding `output` through layout operators only, in concatenation order. */
function headConvs(output: string, producers: Map<string, NodeProto>): NodeProto[] {
  const found: NodeProto[] = [];
  const visit = (tensor: string): void => {
    const n = producers.get(tensor);
    if (!n) throw new AnatomyError(`'${tensor}' is not produced by a node: no head convolution behind it`);
    if (n.op_type === 'Conv') found.push(n);
    else if (LAYOUT.has(n.op_type ?? '')) (n.op_type === 'Concat' ? n.input : [n.input[0]]).forEach(visit);
    else throw new AnatomyError(`node '${n.name}' (${n.op_type}) lies between a head and the output '${output}'; only layout operators may`);
  };
  visit(output);
  return found;
}

function ancestors(tensor: string, producers: Map<string, NodeProto>, into: Set<NodeProto>): void {
  const stack = [tensor];
  while (stack.length > 0) {
    const n = producers.get(stack.pop() as string);
    if (!n || into.has(n)) continue;
    into.add(n);
    stack.push(...n.input);
  }
}

/**
 * Splits the nodes into heads (the loc/conf convolutions, what lies after them, and non-weighted
 * nodes that feed only heads, such as Normalize), the base network (what the second head's source
 * needs: SSD's truncated classifier, VGG16 through fc7, MobileNet through conv13) and the extra
 * layers (the rest).
 */
function structure(model: ModelProto): Structure {
  const graph = model.graph;
  if (!graph) throw new AnatomyError('the model has no graph');
  const metadata = Object.fromEntries(model.metadata_props.map((e) => [e.key ?? '', e.value ?? '']));
  let spec: SsdSpec;
  try {
    spec = specFromMetadata(metadata);
  } catch (err) {
    if (err instanceof SsdSpecError) throw new AnatomyError(`the model carries no usable SSD spec: ${err.message}`);
    throw err;
  }
  const producers = producersOf(graph);
  const loc = headConvs(spec.outputs.loc, producers);
  const conf = headConvs(spec.outputs.conf, producers);
  if (loc.length !== conf.length || loc.length === 0) throw new AnatomyError(`${loc.length} loc and ${conf.length} conf head convolutions: they must pair up`);
  const heads = loc.map((l, i) => ({ loc: l, conf: conf[i] }));
  for (const [i, h] of heads.entries()) if (h.loc.input[0] !== h.conf.input[0]) throw new AnatomyError(`head ${i}: loc '${h.loc.name}' and conf '${h.conf.name}' read different tensors`);
  const part = new Map<NodeProto, Part>();
  const headConvSet = new Set(heads.flatMap((h) => [h.loc, h.conf]));
  // After the heads: everything downstream of a head convolution.
  const consumers = new Map<string, NodeProto[]>();
  for (const n of graph.node) for (const t of n.input) consumers.set(t, [...(consumers.get(t) ?? []), n]);
  for (const n of graph.node) {
    if (headConvSet.has(n) || n.input.some((t) => { const p = producers.get(t); return p !== undefined && part.get(p) === 'heads'; })) part.set(n, 'heads');
  }
  // Before the heads: nodes all of whose consumers are heads (reverse topological order), other
  // than convolutions and their epilogues (the last extra layer's ReLU feeds only heads too).
  for (const n of [...graph.node].reverse()) {
    if (part.has(n) || WEIGHTED.has(n.op_type ?? '') || EPILOGUE.has(n.op_type ?? '')) continue;
    const users = n.output.flatMap((o) => consumers.get(o) ?? []);
    if (users.length > 0 && users.every((u) => part.get(u) === 'heads')) part.set(n, 'heads');
  }
  const base = new Set<NodeProto>();
  ancestors(heads[Math.min(1, heads.length - 1)].loc.input[0], producers, base);
  for (const n of graph.node) if (!part.has(n)) part.set(n, base.has(n) ? 'base' : 'extra');
  return { graph, spec, heads, part, producers };
}

/** The source layer's name: the node producing the head's input, looked through activations. */
function sourceName(tensor: string, producers: Map<string, NodeProto>): string {
  let n = producers.get(tensor);
  while (n && EPILOGUE.has(n.op_type ?? '') && producers.get(n.input[0])) n = producers.get(n.input[0]);
  return n?.name || tensor;
}

const FLOATS: ReadonlySet<number | undefined> = new Set([DataType.FLOAT, DataType.FLOAT16, DataType.DOUBLE, DataType.BFLOAT16]);

/**
 * Whether input `i` of `n`, an initializer, is a learned parameter (a Caffe blob): float tensors
 * of rank >= 1, but not Clip's bounds. Scalars are constants (Normalize's eps), integer tensors
 * are shapes and axes.
 */
function isParameter(n: NodeProto, i: number, shape: Shape, dataType: number | undefined): boolean {
  return FLOATS.has(dataType) && shape.length > 0 && !(n.op_type === 'Clip' && i > 0);
}

function costOf(s: Structure, shapes: GraphShapes): Record<Part | 'total', Cost> {
  const cost: Record<Part | 'total', Cost> = { base: { params: 0, macs: 0 }, extra: { params: 0, macs: 0 }, heads: { params: 0, macs: 0 }, total: { params: 0, macs: 0 } };
  const counted = new Set<string>();
  for (const n of s.graph.node) {
    const c = cost[s.part.get(n) as Part];
    n.input.forEach((t, i) => {
      const init = shapes.initializers.get(t);
      if (!init || counted.has(t) || !isParameter(n, i, shapes.shapes.get(t) as Shape, init.data_type)) return;
      counted.add(t);
      c.params += (shapes.shapes.get(t) as Shape).reduce((a, b) => a * b, 1);
    });
    if (n.op_type === 'Conv') {
      const w = shapes.shapes.get(n.input[1]) as Shape;
      const out = shapes.shapes.get(n.output[0]) as Shape;
      // Per output value: (C_in / group) * kh * kw multiply-adds.
      c.macs += out.reduce((a, b) => a * b, 1) * w.slice(1).reduce((a, b) => a * b, 1);
    } else if (n.op_type === 'Gemm' || n.op_type === 'MatMul') {
      const a = shapes.shapes.get(n.input[0]) as Shape;
      const out = shapes.shapes.get(n.output[0]) as Shape;
      const inner = n.op_type === 'Gemm' && intAttr(n, 'transA', 0) === 1 ? a[0] : a[a.length - 1];
      c.macs += out.reduce((x, y) => x * y, 1) * inner;
    }
  }
  for (const p of PARTS) {
    cost.total.params += cost[p].params;
    cost.total.macs += cost[p].macs;
  }
  return cost;
}

function mapOf(s: Structure, shapes: GraphShapes, i: number): [number, number] {
  const x = shapes.shapes.get(s.heads[i].loc.input[0]) as Shape;
  return [x[2], x[3]];
}

function priorsPerLocation(s: Structure, shapes: GraphShapes, i: number): number {
  return (shapes.shapes.get(s.heads[i].loc.input[1]) as Shape)[0] / 4;
}

function sized(s: Structure, shapes: GraphShapes, k: number, input: { height: number; width: number }): SizedAnatomy {
  const heads = s.heads.map((_, i) => {
    const featureMap = mapOf(s, shapes, i);
    return { featureMap, priors: featureMap[0] * featureMap[1] * priorsPerLocation(s, shapes, i), smallestObject: [k / featureMap[0], k / featureMap[1]] as [number, number] };
  });
  return { input, heads, priors: heads.reduce((n, h) => n + h.priors, 0), cost: costOf(s, shapes) };
}

/** Box sizes (w x h, input pixels) of the priors of one location of head i, from the prior table. */
function tableBoxes(spec: SsdSpec, firstPrior: number, count: number): [number, number][] {
  if (spec.priors.kind !== 'table') return [];
  const b = spec.priors.boxes;
  return Array.from({ length: count }, (_, p) => {
    const o = (firstPrior + p) * 4;
    return [(b[o + 2] - b[o]) * spec.input.width, (b[o + 3] - b[o + 1]) * spec.input.height] as [number, number];
  });
}

function headAnatomy(s: Structure, shapes: GraphShapes, k: number, i: number, firstPrior: number): HeadAnatomy {
  const { loc } = s.heads[i];
  const featureMap = mapOf(s, shapes, i);
  const x = shapes.shapes.get(loc.input[0]) as Shape;
  const w = shapes.shapes.get(loc.input[1]) as Shape;
  const perLocation = priorsPerLocation(s, shapes, i);
  const { spec } = s;
  const h: HeadAnatomy = {
    source: sourceName(loc.input[0], s.producers),
    featureMap,
    channels: x[1],
    kernel: [w[2], w[3]],
    priorsPerLocation: perLocation,
    priors: featureMap[0] * featureMap[1] * perLocation,
    step: [spec.input.height / featureMap[0], spec.input.width / featureMap[1]],
    stepGiven: false,
    smallestObject: [k / featureMap[0], k / featureMap[1]],
  };
  if (spec.priors.kind === 'priorbox') {
    const p: PriorBoxHead | undefined = spec.priors.heads[i];
    if (!p) throw new AnatomyError(`the graph has head ${i} (${h.source}), the spec has ${spec.priors.heads.length} PriorBox heads`);
    if (p.featureMap[0] !== featureMap[0] || p.featureMap[1] !== featureMap[1] || priorBoxHeadCount(p) !== perLocation) {
      throw new AnatomyError(`head ${i} (${h.source}): the graph gives a ${featureMap.join('x')} map with ${perLocation} priors per location, the spec ${p.featureMap.join('x')} with ${priorBoxHeadCount(p)}`);
    }
    h.minSizes = [...p.minSizes];
    if (p.maxSizes) h.maxSizes = [...p.maxSizes];
    h.aspectRatios = [...(p.aspectRatios ?? [])];
    const stepH = p.stepH ?? p.step;
    const stepW = p.stepW ?? p.step;
    if (stepH !== undefined && stepW !== undefined) {
      h.step = [stepH, stepW];
      h.stepGiven = true;
    }
  } else {
    h.tableBoxes = tableBoxes(spec, firstPrior, perLocation);
  }
  return h;
}

/** The anatomy of a model that carries an SSD spec (metadata `ssd.spec`). */
export function modelAnatomy(model: ModelProto, options: AnatomyOptions = {}): ModelAnatomy {
  const k = options.k ?? 4;
  if (!(k > 0)) throw new AnatomyError(`k must be > 0, got ${k}`);
  const s = structure(model);
  const own = { height: s.spec.input.height, width: s.spec.input.width };
  const shapes = inferShapes(s.graph, own);
  const heads: HeadAnatomy[] = [];
  let first = 0;
  for (let i = 0; i < s.heads.length; i++) {
    heads.push(headAnatomy(s, shapes, k, i, first));
    first += heads[i].priors;
  }
  const cost = costOf(s, shapes);
  const result: ModelAnatomy = { name: s.spec.name, k, input: own, heads, priors: first, cost };
  if (options.at !== undefined) {
    if (!Number.isInteger(options.at) || options.at < 1) throw new AnatomyError(`--at must be a positive integer size, got ${options.at}`);
    const other = sized(s, inferShapes(s.graph, { height: options.at, width: options.at }), k, { height: options.at, width: options.at });
    const ratio = (a: number, b: number) => (b === 0 ? (a === 0 ? 1 : Infinity) : a / b);
    const factor = Object.fromEntries((['base', 'extra', 'heads', 'total'] as const).map((p) => [p, { params: ratio(other.cost[p].params, cost[p].params), macs: ratio(other.cost[p].macs, cost[p].macs) }])) as Record<Part | 'total', Cost>;
    result.at = { ...other, factor };
  }
  return result;
}
