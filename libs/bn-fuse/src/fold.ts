// Folding inference-mode BatchNormalization into the op that produces its input (Conv,
// ConvTranspose, Gemm, MatMul), as a pass over an onnx-io model. Each BN goes through
//   match.ts        where it is and what feeds it (scopes, producer, constant operands),
//   eligibility.ts  whether it may be folded, else a LeaveCode and reason; reads what the fold needs,
//   fold-math.ts    the arithmetic: s = gamma / sqrt(var + eps), W' = W * s, b' = (b - mean) * s + beta,
//   rewrite.ts      the fused tensors, their names and the graph surgery,
// and this module ties them together and keeps the report. It never throws for a model it cannot
// fold (the BN is left, with a coded reason); it only throws for a model without a graph.
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
import { ExternalDataLoader, GraphProto, ModelProto, NameRegistry, NodeProto, countModelUses, describeNode, int64ToApproxNumber, isBatchNorm, onnxOpsetVersion } from '@edge-ssd/onnx-io';
import { EligibilityContext, LeaveCode, Refusal, checkBatchNorm, problemRefusal, quoteList, scopeRefusal, unreadable } from './eligibility';
import { FOLD_PRODUCERS, FoldProducer } from './fold-producers';
import { Scope, makeScope, subgraphScopes, unreachableBatchNorms } from './match';
import { RewriteContext, applyFold, cloneForRewrite, finishScope, fuseTensors } from './rewrite';

interface FoldedBatchNorm {
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

interface LeftBatchNorm {
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

export function foldBatchNorm(input: ModelProto, options: FoldOptions = {}): FoldResult {
  if (!input.graph) throw new Error('model has no graph');
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
  const irVersion = int64ToApproxNumber(model.ir_version, 0);
  const uses = countModelUses(model);
  const eligibility: EligibilityContext = {
    opset: onnxOpsetVersion(model),
    producers: selectProducers(options.producers),
    uses,
    mainInputsAreConstant: irVersion < 4 || options.initializerInputs === 'fold',
    sharedWeights: options.sharedWeights ?? 'clone',
    externalData: options.externalData,
  };
  const rewrite: RewriteContext = { names: NameRegistry.forModel(model), uses };
  const scopes: Scope[] = [];

  const foldOne = (bn: NodeProto, bnIndex: number, scope: Scope): FoldedBatchNorm | Refusal => {
    const candidate = checkBatchNorm(bn, scope, eligibility);
    if ('code' in candidate) return candidate;
    let fused: ReturnType<typeof fuseTensors>;
    try {
      fused = fuseTensors(candidate, options.deferWeights === true && !scope.parent, options.externalData);
    } catch (err) {
      return unreadable(err);
    }
    if ('problem' in fused) return problemRefusal(fused, candidate);
    const applied = applyFold(rewrite, bn, bnIndex, scope, candidate, fused);
    const label = describeNode(bn);
    const prefix = scope.where ? `${scope.where}: ${label}` : label;
    if (candidate.droppedOutputs.length > 0) report.notes.push(`${prefix}: dropped unused optional outputs ${quoteList(candidate.droppedOutputs)}`);
    for (const note of candidate.notes) report.notes.push(`${prefix}: ${applied.producerOp} '${applied.producer}': ${note}`);
    return {
      batchNorm: label,
      ...(scope.where ? { graph: scope.where } : {}),
      producer: applied.producer,
      producerOp: applied.producerOp,
      epsilon: candidate.epsilon,
      channels: candidate.layout.channels,
      weight: applied.weight,
      bias: applied.bias,
    };
  };

  const foldScope = (scope: Scope): void => {
    scopes.push(scope);
    scope.graph.node.forEach((bn, bnIndex) => {
      if (!isBatchNorm(bn)) return;
      report.batchNormFound++;
      const outcome = foldOne(bn, bnIndex, scope);
      if ('code' in outcome) report.left.push({ batchNorm: describeNode(bn), ...(scope.where ? { graph: scope.where } : {}), code: outcome.code, reason: outcome.reason });
      else report.folded.push(outcome);
    });
    // Subgraphs after their graph, depth first, in node order.
    for (const child of subgraphScopes(scope)) foldScope(child);
  };

  foldScope(makeScope(graph, '', undefined));
  for (const { node, where, kind } of unreachableBatchNorms(model)) {
    report.batchNormFound++;
    const { code, reason } = scopeRefusal(kind);
    report.left.push({ batchNorm: describeNode(node), graph: where, code, reason });
  }
  for (const scope of scopes) {
    const finished = finishScope(scope, uses, irVersion);
    report.initializersRemoved.push(...finished.removed);
    report.initializersAdded.push(...finished.added);
    report.notes.push(...finished.notes);
  }
  report.batchNormFolded = report.folded.length;
  report.batchNormLeft = report.left.length;
  report.nodesAfter = graph.node.length;
  return { model, report };
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
