// Folding inference-mode BatchNormalization into the op that produces its input.
//
// For output channel c, with s[c] = gamma[c] / sqrt(var[c] + eps):
//   W'[i] = W[i] * s[channel of i]
//   b'[c] = (b[c] - mean[c]) * s[c] + beta[c]          (b = 0 when the producer has no bias)
// computed in float64 and rounded once into the weight's dtype (bn-folding.md §1.5: rounding after
// every step, as ORT does for fp16, loses accuracy). Producers: Conv, ConvTranspose, Gemm, MatMul
// (fold-producers.ts has the per-op layouts).
//
// A BN is left in place, with a coded reason in the report, whenever folding could change what any
// consumer sees: the producer output is read elsewhere (in any scope) or is a graph output, the BN
// is in training mode or its extra outputs are used, an input is not a constant initializer, or
// shapes/dtypes/statistics do not fit (§2 and §6 of bn-folding.md). It never throws for a model it
// cannot fold; it only throws for a model without a graph.
//
// Policies (README "Policies" has the reasoning):
// - Shared weights: by default the fold writes the scaled weight into a *new* initializer and leaves
//   the original for its other readers ('clone'); `sharedWeights: 'leave'` leaves such BNs instead.
//   Nothing is ever overwritten in place.
// - Initializers that are also graph inputs (IR >= 4) can be overridden at run time, so they are not
//   constants: BNs using them are left, unless `initializerInputs: 'fold'`. In IR < 4 every
//   initializer is listed as an input and they are constants (as onnxruntime treats them).
// - Subgraphs (If/Loop/Scan bodies, any depth) are folded like the main graph. Weights may live in
//   an enclosing graph; the fused tensors go into the graph of the producer. Function bodies and
//   training graphs are not folded: their BNs are reported as left ('unsupported-scope').
//
// Graph surgery keeps the model valid and stable: the producer takes over the BN's output name (so
// graph outputs and downstream names never change), the producer stays where it was (so the node
// order stays topological), the fused weight and bias get fresh names that collide with no tensor
// in any scope (several tools broke models by reusing names: bn-folding.md §4), and only
// initializers that the fold itself orphaned are removed (with their value_info entries).
import { FOLD_PRODUCERS, FoldProducer, ProducerLayout, getAttribute, intAttribute, setFloatAttribute } from './fold-producers';
import { NameRegistry, countModelUses, describeNode, isBatchNorm, isOnnxDomain, onnxOpsetVersion, subgraphsOf } from '@edge-ssd/onnx-io';
import { valueInfo } from '@edge-ssd/onnx-io';
import { AttributeProto, DataType, GraphProto, ModelProto, NodeProto, TensorProto, ValueInfoProto, int64ToApproxNumber, int64ToSafeNumber } from '@edge-ssd/onnx-io';
import {
  ExternalDataLoader,
  FLOAT_DATA_TYPES,
  FloatReader,
  LazyTensorData,
  TensorDataError,
  dataTypeName,
  decodeBfloat16,
  decodeFloat16,
  encodeBfloat16,
  encodeFloat16,
  floatReader,
  floatWidth,
  isExternalTensor,
  lazyData,
  makeFloatTensor,
  makeLazyTensor,
  makeRawTensor,
  overflowsIn,
  tensorBytesInto,
  tensorDims,
  tensorElementCount,
} from '@edge-ssd/onnx-io';

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

export interface FoldedBatchNorm {
  /** The BN node's name (or a description from its output when unnamed). */
  batchNorm: string;
  /** The subgraph holding the BN (e.g. "If 'branchy' then_branch"); absent for the main graph. */
  graph?: string;
  producer: string;
  /** The producer's op type before the fold (a MatMul becomes a Gemm). */
  producerOp: string;
  epsilon: number;
  channels: number;
  weight: { from: string; to: string };
  bias: { from: string | null; to: string };
}

export interface LeftBatchNorm {
  batchNorm: string;
  graph?: string;
  code: LeaveCode;
  reason: string;
}

export interface FoldReport {
  batchNormFound: number;
  batchNormFolded: number;
  batchNormLeft: number;
  folded: FoldedBatchNorm[];
  left: LeftBatchNorm[];
  /** Nodes of the main graph. */
  nodesBefore: number;
  nodesAfter: number;
  initializersAdded: string[];
  initializersRemoved: string[];
  /** Remarks that are not refusals (dropped unused optional outputs, clones, rewrites, IR < 4 inputs). */
  notes: string[];
}

export interface FoldOptions {
  /** Producer op types to fold into; default: every supported one (Conv, ConvTranspose, Gemm, MatMul). */
  producers?: readonly string[];
  /**
   * A weight or bias initializer also read by another node: 'clone' (default) folds into a new
   * tensor and keeps the original for the other readers; 'leave' leaves the BN.
   */
  sharedWeights?: 'clone' | 'leave';
  /**
   * IR >= 4 initializers also listed as graph inputs: 'leave' (default) treats them as run-time
   * inputs, which they are; 'fold' treats them as constants and drops the folded-away ones from the
   * graph inputs too (for exports that list weights as inputs by habit).
   */
  initializerInputs?: 'leave' | 'fold';
  /** Reads tensors stored as external data. Without it, BNs whose tensors are external are left. */
  externalData?: ExternalDataLoader;
  /**
   * Main-graph fused weights are not stored but computed again when they are written (lazy tensor
   * data, see encodeModelChunks), so the folded model never holds a copy of the weights. The
   * original weights must stay readable until then (convertFile keeps the input file open). The
   * fold still computes every value once to check that it fits the dtype.
   */
  deferWeights?: boolean;
}

export interface FoldResult {
  model: ModelProto;
  report: FoldReport;
}

const DEFAULT_EPSILON = 1e-5;

type Refusal = { code: LeaveCode; reason: string };

/** One graph being folded, with its enclosing graph. */
interface Scope {
  graph: GraphProto;
  /** '' for the main graph, else e.g. "If 'branchy' then_branch". */
  where: string;
  parent?: Scope;
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

interface FoldPlan {
  producerIndex: number;
  producer: FoldProducer;
  layout: ProducerLayout;
  epsilon: number;
  weight: TensorProto;
  weightOwner: Scope;
  bias?: TensorProto;
  biasOwner?: Scope;
  /** Names of the BN's scale, B, mean, var, with the graph holding each. */
  params: { name: string; owner: Scope }[];
  droppedOutputs: string[];
  newWeight: Uint8Array | LazyTensorData;
  newBias: Float64Array;
  notes: string[];
}

const SHAPE_PRESERVING_OPS = new Set([
  'Abs', 'BatchNormalization', 'Cast', 'Celu', 'Clip', 'Dropout', 'Elu', 'Erf', 'Exp', 'Gelu', 'HardSigmoid', 'HardSwish', 'Identity',
  'LeakyRelu', 'Log', 'Mish', 'Neg', 'Relu', 'Selu', 'Sigmoid', 'Softplus', 'Softsign', 'Sqrt', 'Tanh', 'ThresholdedRelu',
]);

export function foldBatchNorm(input: ModelProto, options: FoldOptions = {}): FoldResult {
  if (!input.graph) throw new Error('model has no graph');
  const model = cloneForRewrite(input);
  const folder = new Folder(model, selectProducers(options.producers), options);
  return { model, report: folder.run() };
}

class Folder {
  private readonly report: FoldReport;
  private readonly irVersion: number;
  private readonly opset: number;
  private readonly names: NameRegistry;
  private readonly uses: Map<string, number>;
  private readonly graphOutputs: Set<string>;
  private readonly scopes: Scope[] = [];
  /** Window for streaming deferred weights through the overflow check. */
  private scratch: Uint8Array | undefined;

  constructor(
    private readonly model: ModelProto,
    private readonly producers: Readonly<Record<string, FoldProducer>>,
    private readonly options: FoldOptions,
  ) {
    const graph = model.graph as GraphProto;
    this.report = {
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
    this.irVersion = int64ToApproxNumber(model.ir_version, 0);
    this.opset = onnxOpsetVersion(model);
    this.names = NameRegistry.forModel(model);
    ({ uses: this.uses, graphOutputs: this.graphOutputs } = countModelUses(model));
  }

  run(): FoldReport {
    const graph = this.model.graph as GraphProto;
    this.foldScope(makeScope(graph, '', undefined));
    this.leaveUnreachable();
    for (const scope of this.scopes) this.finishScope(scope);
    const report = this.report;
    report.batchNormFolded = report.folded.length;
    report.batchNormLeft = report.left.length;
    report.nodesAfter = graph.node.length;
    return report;
  }

  private useCount(name: string): number {
    return this.uses.get(name) ?? 0;
  }

  private addUses(name: string, delta: number): void {
    if (name) this.uses.set(name, this.useCount(name) + delta);
  }

  private foldScope(scope: Scope): void {
    this.scopes.push(scope);
    scope.graph.node.forEach((bn, bnIndex) => {
      if (!isBatchNorm(bn)) return;
      this.report.batchNormFound++;
      const label = describeNode(bn);
      const where = scope.where ? { graph: scope.where } : {};
      const plan = this.plan(bn, scope);
      if ('code' in plan) {
        this.report.left.push({ batchNorm: label, ...where, code: plan.code, reason: plan.reason });
        return;
      }
      this.apply(bn, bnIndex, scope, plan, label);
    });
    // Subgraphs after their graph, depth first, in node order.
    scope.graph.node.forEach((node, i) => {
      if (scope.removedNodes.has(i)) return;
      for (const attr of node.attribute) {
        const graphs = attributeGraphs(attr);
        graphs.forEach((g, k) => {
          const name = `${node.op_type} '${describeNode(node)}' ${attr.name}${graphs.length > 1 || attr.graphs.length > 0 ? `[${k}]` : ''}`;
          this.foldScope(makeScope(g, scope.where ? `${scope.where} > ${name}` : name, scope));
        });
      }
    });
  }

  /** BNs in function bodies and training graphs: counted, and reported as not folded. */
  private leaveUnreachable(): void {
    const leave = (where: string, graphNodes: NodeProto[], why: string) => {
      const visit = (nodes: NodeProto[]) => {
        for (const n of nodes) {
          if (isBatchNorm(n)) {
            this.report.batchNormFound++;
            this.report.left.push({ batchNorm: describeNode(n), graph: where, code: 'unsupported-scope', reason: why });
          }
          for (const g of subgraphsOf(n)) visit(g.node);
        }
      };
      visit(graphNodes);
    };
    for (const f of this.model.functions) leave(`function '${f.name}'`, f.node, 'function bodies are not folded (their weights are function inputs)');
    this.model.training_info.forEach((t, i) => {
      for (const [kind, g] of [['initialization', t.initialization], ['algorithm', t.algorithm]] as const) {
        if (g) leave(`training_info[${i}].${kind}`, g.node, 'training graphs are not folded');
      }
    });
  }

  /** Where `name` is defined, looking outwards from `scope`: a constant tensor, or why it is not one. */
  private resolve(name: string, scope: Scope): { tensor: TensorProto; owner: Scope } | { why: string; outer?: boolean } {
    for (let s: Scope | undefined = scope; s; s = s.parent) {
      const idx = s.producer.get(name);
      if (idx !== undefined && !s.removedNodes.has(idx)) {
        const n = s.graph.node[idx];
        return { why: `the output of ${n.op_type} '${describeNode(n)}'${s === scope ? '' : ` in ${s.where || 'the main graph'}`}`, outer: s !== scope };
      }
      const t = s.initializers.get(name);
      if (t) {
        if (s.inputs.has(name) && !this.initializerInputIsConstant(s)) {
          return { why: 'an initializer that is also a graph input, so it can be overridden at run time (see --initializer-inputs)' };
        }
        return { tensor: t, owner: s };
      }
      if (s.inputs.has(name)) return { why: s.parent ? `an input of the subgraph ${s.where}` : 'a graph input' };
      if (s.sparse.has(name)) return { why: 'a sparse initializer' };
    }
    return { why: 'not defined in any enclosing graph' };
  }

  private initializerInputIsConstant(s: Scope): boolean {
    if (s.parent) return false;
    return this.irVersion < 4 || this.options.initializerInputs === 'fold';
  }

  /** Rank of `name` when declared (value_info, inputs, outputs) or derivable from its producer. */
  private rankOf(name: string, scope: Scope, depth = 0): number | undefined {
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
      const n = s.graph.node[idx];
      if (!isOnnxDomain(n.domain) || n.output[0] !== name) return undefined;
      switch (n.op_type) {
        case 'Flatten':
        case 'Gemm':
          return 2;
        case 'MatMul':
          return this.rankOf(n.input[0], s, depth + 1) === 2 && this.rankOf(n.input[1], s, depth + 1) === 2 ? 2 : undefined;
        case 'Reshape': {
          const shape = this.resolve(n.input[1] ?? '', s);
          return 'tensor' in shape && shape.tensor.dims.length === 1 ? int64ToSafeNumber(shape.tensor.dims[0]) : undefined;
        }
        default:
          return SHAPE_PRESERVING_OPS.has(n.op_type ?? '') ? this.rankOf(n.input[0], s, depth + 1) : undefined;
      }
    }
    return undefined;
  }

  private plan(bn: NodeProto, scope: Scope): FoldPlan | Refusal {
    const opset = this.opset;
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
      const used = extra.filter((o) => this.useCount(o) > 0 || this.graphOutputs.has(o));
      if (used.length > 0) return { code: 'extra-outputs-used', reason: `optional outputs ${quoteList(used)} are used` };
      droppedOutputs = extra;
    }

    const x = bn.input[0];
    const producerIndex = scope.producer.get(x);
    if (producerIndex === undefined || scope.removedNodes.has(producerIndex)) {
      const r = this.resolve(x, scope);
      const what = 'tensor' in r ? 'an initializer' : r.outer ? `${r.why} (an enclosing graph; folds do not cross graph boundaries)` : r.why;
      return { code: 'unsupported-producer', reason: `input '${x}' is ${what}` };
    }
    const conv = scope.graph.node[producerIndex];
    const producer = isOnnxDomain(conv.domain) ? this.producers[conv.op_type ?? ''] : undefined;
    if (!producer) return { code: 'unsupported-producer', reason: `input '${x}' is produced by ${conv.op_type} '${describeNode(conv)}', not a foldable op` };
    if (conv.output.indexOf(x) !== 0) return { code: 'unsupported-producer', reason: `input '${x}' is not the first output of '${describeNode(conv)}'` };
    if (this.graphOutputs.has(x)) return { code: 'producer-output-is-graph-output', reason: `'${x}' (output of '${describeNode(conv)}') is also a graph output` };
    const xUses = this.useCount(x);
    if (xUses !== 1) return { code: 'producer-output-shared', reason: `'${x}' (output of '${describeNode(conv)}') has ${xUses} consumers` };

    const weightName = conv.input[producer.weightInput] ?? '';
    const biasName = conv.input[producer.biasInput] ?? '';
    if (!weightName) return { code: 'non-constant-input', reason: `${producer.opType} has no weight input` };
    const roles = ['scale', 'B', 'mean', 'var'];
    const wanted: [string, string][] = [['weight', weightName], ...(biasName ? [['bias', biasName] as [string, string]] : []), ...bn.input.slice(1, 5).map((p, i) => [roles[i], p] as [string, string])];
    const found = new Map<string, { tensor: TensorProto; owner: Scope }>();
    for (const [role, name] of wanted) {
      const r = this.resolve(name, scope);
      if (!('tensor' in r)) return { code: 'non-constant-input', reason: `${role} '${name}' is ${r.why}` };
      found.set(role, r);
    }
    const notes: string[] = [];
    for (const [role, name] of [['weight', weightName], ['bias', biasName]]) {
      const n = name ? this.useCount(name) : 0;
      if (n <= 1) continue;
      if (this.options.sharedWeights === 'leave') return { code: 'shared-weight', reason: `${role} '${name}' is shared by ${n} inputs` };
      notes.push(`${role} '${name}' is also read by ${n - 1} other input(s); folded into a copy, the original stays`);
    }

    const { tensor: weight, owner: weightOwner } = found.get('weight') as { tensor: TensorProto; owner: Scope };
    const biasFound = found.get('bias');
    const bias = biasFound?.tensor;
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
      if (err instanceof TensorDataError) return { code: 'unreadable-tensor', reason: err.message };
      throw err;
    }
    const layout = producer.layout(conv, dims, biasDims, {
      opset,
      weightType,
      rankOf: (name) => this.rankOf(name, scope),
    });
    if ('code' in layout) return layout;
    const C = layout.channels;

    // Read everything before changing anything.
    let b: FloatReader | undefined;
    const vectors: FloatReader[] = [];
    const width = floatWidth(weightType);
    const weightBytes = dims.reduce((p, d) => p * d, 1) * width;
    try {
      for (const role of roles) {
        const t = (found.get(role) as { tensor: TensorProto }).tensor;
        if (t.dims.length !== 1) return { code: 'shape-mismatch', reason: `${role} '${t.name}' has rank ${t.dims.length}, expected a 1-D vector of ${C}` };
        const r = floatReader(t, this.options.externalData);
        if (r.count !== C) return { code: 'shape-mismatch', reason: `${role} '${t.name}' has ${r.count} values, the producer has ${C} output channels` };
        vectors.push(r);
      }
      b = bias ? floatReader(bias, this.options.externalData) : undefined;
      // The weight is streamed, not read whole: check its stored size here.
      const stored = lazyData(weight)?.byteLength ?? weight.raw_data?.byteLength;
      if (stored !== undefined && !isExternalTensor(weight) && stored !== weightBytes) {
        return { code: 'unreadable-tensor', reason: `tensor '${weightName}': raw data has ${stored} bytes, expected ${weightBytes}` };
      }
      // Typed fields: their value count must match too, before a buffer of weightBytes is made.
      if (stored === undefined && !isExternalTensor(weight)) floatReader(weight);
    } catch (err) {
      if (err instanceof TensorDataError) return { code: 'unreadable-tensor', reason: err.message };
      throw err;
    }

    // A FLOAT attribute is 32-bit on the wire: round an in-memory value the way a runtime will see it.
    const epsilon = Math.fround(getAttribute(bn, 'epsilon')?.f ?? DEFAULT_EPSILON);
    const [gamma, beta, mean, variance] = vectors;
    const s = new Float64Array(C);
    for (let c = 0; c < C; c++) {
      const denom = variance.get(c) + epsilon;
      if (!(denom > 0) || !Number.isFinite(denom)) {
        return { code: 'invalid-statistics', reason: `channel ${c}: var + epsilon = ${denom} (not a positive number)` };
      }
      s[c] = gamma.get(c) / Math.sqrt(denom);
      if (!Number.isFinite(s[c])) return { code: 'invalid-statistics', reason: `channel ${c}: folded scale is not finite` };
    }

    const biasType = bias?.data_type ?? weightType;
    const biasLayout = layout.bias;
    const newBias = new Float64Array(biasLayout.dims.reduce((p, d) => p * d, 1));
    for (let e = 0; e < newBias.length; e++) {
      const c = biasLayout.channelOf(e);
      const src = biasLayout.sourceOf(e);
      const old = src >= 0 && b ? biasLayout.factor * b.get(src) : 0;
      if (!Number.isFinite(old)) return { code: 'invalid-statistics', reason: `bias '${bias?.name}' has a non-finite value at ${src}` };
      const v = (old - mean.get(c)) * s[c] + beta.get(c);
      if (!Number.isFinite(v)) return { code: 'invalid-statistics', reason: `channel ${c}: folded bias is not finite` };
      if (overflowsIn(v, biasType)) return { code: 'invalid-statistics', reason: `a folded bias value (${v}) does not fit ${dataTypeName(biasType)}` };
      newBias[e] = v;
    }

    // The scaled weight, rounded once: W' = W * s in float64, straight into the weight's dtype.
    // Deferred: checked now in windows and computed again, window by window, when it is written.
    const loader = this.options.externalData;
    const overflow = (v: number): Refusal => ({ code: 'invalid-statistics', reason: `a folded weight value (${v}) does not fit ${dataTypeName(weightType)}` });
    let newWeight: Uint8Array | LazyTensorData;
    try {
      if (this.options.deferWeights && !scope.parent) {
        this.scratch ??= new Uint8Array(SCRATCH_BYTES);
        for (let offset = 0; offset < weightBytes; offset += this.scratch.byteLength) {
          const piece = this.scratch.subarray(0, Math.min(this.scratch.byteLength, weightBytes - offset));
          tensorBytesInto(weight, piece, offset, loader);
          const bad = scaleInPlace(piece, offset / width, weightType, layout, s);
          if (bad !== undefined) return overflow(bad);
        }
        newWeight = {
          byteLength: weightBytes,
          readInto: (target, offset) => {
            if (offset % width !== 0 || target.byteLength % width !== 0) throw new Error(`unaligned read of a ${width}-byte element tensor`);
            tensorBytesInto(weight, target, offset, loader);
            scaleInPlace(target, offset / width, weightType, layout, s);
          },
        };
      } else {
        const bytes = new Uint8Array(weightBytes);
        tensorBytesInto(weight, bytes, 0, loader);
        const bad = scaleInPlace(bytes, 0, weightType, layout, s);
        if (bad !== undefined) return overflow(bad);
        newWeight = bytes;
      }
    } catch (err) {
      if (err instanceof TensorDataError) return { code: 'unreadable-tensor', reason: err.message };
      throw err;
    }

    const params = bn.input.slice(1, 5).map((name, i) => ({ name, owner: (found.get(roles[i]) as { owner: Scope }).owner }));
    return {
      producerIndex,
      producer,
      layout,
      epsilon,
      weight,
      weightOwner,
      bias,
      biasOwner: biasFound?.owner,
      params,
      droppedOutputs,
      newWeight,
      newBias,
      notes: [...notes, ...layout.notes],
    };
  }

  private apply(bn: NodeProto, bnIndex: number, scope: Scope, plan: FoldPlan, label: string): void {
    const conv = scope.graph.node[plan.producerIndex];
    const producerLabel = describeNode(conv);
    const producerOp = conv.op_type ?? '';
    const weightName = plan.weight.name ?? '';
    const biasName = plan.bias?.name ?? null;
    const weightType = plan.weight.data_type ?? DataType.FLOAT;
    const biasType = plan.bias?.data_type ?? weightType;
    const newWeightName = this.names.fresh(`${weightName}_bnfused`);
    const newBiasName = this.names.fresh(`${biasName ?? `${conv.name || weightName}_bias`}_bnfused`);
    const dims = tensorDims(plan.weight);
    const newWeight = plan.newWeight instanceof Uint8Array ? makeRawTensor(newWeightName, dims, weightType, plan.newWeight) : makeLazyTensor(newWeightName, dims, weightType, plan.newWeight);
    const newBias = makeFloatTensor(newBiasName, plan.layout.bias.dims, plan.newBias, biasType);

    // Rewire: the producer reads the fused tensors and writes the BN's output.
    const xName = conv.output[0];
    const yName = bn.output[0];
    conv.input[plan.producer.weightInput] = newWeightName;
    while (conv.input.length <= plan.producer.biasInput) conv.input.push('');
    conv.input[plan.producer.biasInput] = newBiasName;
    conv.output[0] = yName;
    if (plan.layout.opType) conv.op_type = plan.layout.opType;
    for (const [name, value] of Object.entries(plan.layout.floatAttributes ?? {})) setFloatAttribute(conv, name, value);
    scope.producer.set(yName, plan.producerIndex);
    scope.producer.delete(xName);
    this.uses.delete(xName);
    scope.removedTensors.add(xName);
    for (const dropped of plan.droppedOutputs) scope.removedTensors.add(dropped);
    scope.removedNodes.add(bnIndex);

    const released: { name: string; owner: Scope }[] = [
      { name: weightName, owner: plan.weightOwner },
      ...(biasName && plan.biasOwner ? [{ name: biasName, owner: plan.biasOwner }] : []),
      ...plan.params,
    ];
    for (const { name, owner } of released) {
      this.addUses(name, -1);
      owner.touched.add(name);
    }
    for (const t of [newWeight, newBias]) {
      const name = t.name ?? '';
      scope.initializers.set(name, t);
      scope.added.add(name);
      this.addUses(name, 1);
    }
    const at = plan.weightOwner === scope ? scope.initOrder.indexOf(weightName) : -1;
    scope.initOrder.splice(at < 0 ? scope.initOrder.length : at + 1, 0, newWeightName, newBiasName);

    const prefix = scope.where ? `${scope.where}: ${label}` : label;
    if (plan.droppedOutputs.length > 0) this.report.notes.push(`${prefix}: dropped unused optional outputs ${quoteList(plan.droppedOutputs)}`);
    for (const note of plan.notes) this.report.notes.push(`${prefix}: ${producerOp} '${producerLabel}': ${note}`);
    this.report.folded.push({
      batchNorm: label,
      ...(scope.where ? { graph: scope.where } : {}),
      producer: producerLabel,
      producerOp,
      epsilon: plan.epsilon,
      channels: plan.layout.channels,
      weight: { from: weightName, to: newWeightName },
      bias: { from: biasName, to: newBiasName },
    });
  }

  private finishScope(scope: Scope): void {
    const graph = scope.graph;
    if (scope.removedNodes.size === 0 && scope.touched.size === 0 && scope.added.size === 0) return;
    if (scope.removedNodes.size > 0) graph.node = graph.node.filter((_, i) => !scope.removedNodes.has(i));
    const orphaned = new Set([...scope.touched].filter((name) => this.useCount(name) <= 0 && !this.graphOutputs.has(name)));
    // A fused tensor superseded by a second fold (Conv -> BN -> BN) is orphaned as well.
    for (const name of scope.added) if (this.useCount(name) <= 0) orphaned.add(name);
    graph.initializer = scope.initOrder.filter((name) => !orphaned.has(name)).map((name) => scope.initializers.get(name) as TensorProto);
    const removed = [...orphaned].filter((name) => !scope.added.has(name));
    const added = [...scope.added].filter((name) => !orphaned.has(name));
    this.report.initializersRemoved.push(...removed);
    this.report.initializersAdded.push(...added);
    for (const name of orphaned) scope.removedTensors.add(name);
    graph.value_info = graph.value_info.filter((v) => !scope.removedTensors.has(v.name ?? ''));
    graph.quantization_annotation = graph.quantization_annotation.filter((q) => !scope.removedTensors.has(q.tensor_name ?? ''));
    if (scope.parent) return;
    const listsInitializers = graph.input.some((v) => scope.initializers.has(v.name ?? ''));
    if (this.irVersion < 4 && listsInitializers) {
      // IR < 4 requires every initializer to be listed as a graph input too.
      graph.input = graph.input.filter((v) => !orphaned.has(v.name ?? ''));
      for (const name of added) {
        const t = scope.initializers.get(name) as TensorProto;
        graph.input.push(valueInfo(name, tensorDims(t), t.data_type ?? DataType.FLOAT));
      }
      this.report.notes.push('IR < 4: graph inputs that mirror initializers were updated with them');
    } else if (listsInitializers && removed.some((name) => scope.inputs.has(name))) {
      // initializerInputs 'fold': a folded-away initializer input would otherwise become a required input.
      graph.input = graph.input.filter((v) => !orphaned.has(v.name ?? ''));
      this.report.notes.push(`initializers folded away were removed from the graph inputs: ${quoteList(removed.filter((n) => scope.inputs.has(n)))}`);
    }
  }
}

/** Bytes of the window the fold streams weights through (deferred weights only). */
const SCRATCH_BYTES = 1 << 20;

/**
 * Scales, in place, the elements of a weight held in `bytes` (little-endian `dataType`), whose first
 * element is element `first` of the tensor: W'[i] = W[i] * s[channel of i], in float64, rounded once
 * into the dtype. Returns the first finite value that overflows the dtype, else undefined. Runs
 * are processed with one factor each and no per-element calls.
 */
function scaleInPlace(bytes: Uint8Array, first: number, dataType: number, layout: ProducerLayout, s: Float64Array): number | undefined {
  const width = floatWidth(dataType);
  const n = bytes.byteLength / width;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const L = layout.runLength;
  let bad: number | undefined;
  for (let i = 0; i < n; ) {
    const run = Math.floor((first + i) / L);
    const end = Math.min(n, (run + 1) * L - first);
    const f = s[layout.channelOfRun(run)];
    switch (dataType) {
      case DataType.FLOAT:
        for (; i < end; i++) {
          const v = view.getFloat32(i * 4, true) * f;
          view.setFloat32(i * 4, v, true);
          if (bad === undefined && !Number.isFinite(Math.fround(v)) && Number.isFinite(v)) bad = v;
        }
        break;
      case DataType.DOUBLE:
        for (; i < end; i++) view.setFloat64(i * 8, view.getFloat64(i * 8, true) * f, true);
        break;
      default: {
        const half = dataType === DataType.FLOAT16;
        for (; i < end; i++) {
          const bits = view.getUint16(i * 2, true);
          const v = (half ? decodeFloat16(bits) : decodeBfloat16(bits)) * f;
          if (bad === undefined && overflowsIn(v, dataType)) bad = v;
          view.setUint16(i * 2, half ? encodeFloat16(v) : encodeBfloat16(v), true);
        }
      }
    }
  }
  return bad;
}

function quoteList(names: string[]): string {
  return names.map((o) => `'${o}'`).join(', ');
}

function attributeGraphs(attr: AttributeProto): GraphProto[] {
  return [...(attr.g ? [attr.g] : []), ...attr.graphs];
}

function makeScope(graph: GraphProto, where: string, parent: Scope | undefined): Scope {
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
 * Copies the parts of the model the fold rewrites (graph lists, node input/output/attribute arrays,
 * subgraphs at any depth) and shares the rest, tensors included: the input model is never modified
 */
function cloneForRewrite(model: ModelProto): ModelProto {
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
