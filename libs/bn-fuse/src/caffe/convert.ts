// The Caffe conversion pipeline: read prototxt + caffemodel -> ONNX with BatchNormalization nodes
// (import.ts) -> foldBatchNorm -> verifyFold (onnxruntime, optimizations disabled, the unfused
// model against the folded one) -> (caller) atomic write. Unusable input is a CaffeImportError
// (CLI exit code 2); a fold outside tolerance is a CaffeVerificationError (exit code 1). In both
// cases nothing is written.
import { type SsdSpec, countPriors } from '@edge-ssd/ssd-core';
import { encodeModel } from '../codec';
import { FoldReport, foldBatchNorm } from '../fold';
import { graphSummary, type GraphSummary } from '../inspect';
import { FileRefusal, readRegularFile } from '../safe-open';
import { VerifyResult, verifyFold } from '../verify';
import { CaffeWeights, readCaffemodel } from './caffemodel';
import { CaffeImportError } from './errors';
import { CaffeImportSummary, ImportCaffeOptions, importCaffe } from './import';

export interface ConvertCaffeOptions extends Omit<ImportCaffeOptions, 'prototxtName' | 'caffemodelName'> {
  /** Run the unfused and the folded model in onnxruntime and compare (default true). */
  verify?: boolean;
  rtol?: number;
  atol?: number;
}

export type CaffeGraphSummary = GraphSummary;

export interface ConvertCaffeResult {
  prototxtPath: string;
  caffemodelPath: string;
  /** The folded model. */
  bytes: Uint8Array;
  /** The model before folding (BatchNormalization nodes). */
  unfused: Uint8Array;
  spec: SsdSpec | null;
  caffe: CaffeImportSummary;
  report: FoldReport;
  /** null with verify: false. */
  verification: VerifyResult | null;
  before: CaffeGraphSummary;
  after: CaffeGraphSummary;
  timings: { readMs: number; importMs: number; foldMs: number; verifyMs: number; totalMs: number };
}

/** The folded model differs from the unfused one by more than the tolerance. */
export class CaffeVerificationError extends Error {
  constructor(
    message: string,
    readonly result: ConvertCaffeResult,
  ) {
    super(message);
    this.name = 'CaffeVerificationError';
  }
}

/** Largest prototxt read (MobileNet-SSD's deploy.prototxt is 30 kB). */
export const MAX_PROTOTXT_BYTES = 16 * 1024 * 1024;
/** Largest caffemodel read: protobuf's own 2 GiB message limit. */
export const MAX_CAFFEMODEL_BYTES = 2 * 1024 * 1024 * 1024 - 1;
/** Largest labels file read. */
export const MAX_LABELS_BYTES = 1024 * 1024;

/** Reads a regular file of at most `maxBytes` (a FIFO or device would block or never end). */
function readInput(file: string, what: string, maxBytes: number): Buffer {
  try {
    return readRegularFile(file, maxBytes);
  } catch (err) {
    if (err instanceof FileRefusal) throw new CaffeImportError(`cannot read ${what} '${file}': ${err.reason}`);
    throw err;
  }
}

/** Reads a labels file: one label per line; blank lines are ignored. */
export function readLabelsFile(file: string): string[] {
  const text = readInput(file, 'labels file', MAX_LABELS_BYTES).toString('utf8');
  const labels = text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l !== '');
  if (labels.length === 0) throw new CaffeImportError(`labels file '${file}' has no labels`);
  return labels;
}

/** Converts prototxt text + caffemodel bytes (or weights already read); does not verify-fail. */
export async function convertCaffeModel(
  prototxt: string,
  caffemodel: Uint8Array | CaffeWeights,
  names: { prototxtPath: string; caffemodelPath: string },
  options: ConvertCaffeOptions = {},
): Promise<ConvertCaffeResult> {
  const t0 = performance.now();
  const { model, spec, summary } = importCaffe(prototxt, caffemodel, { ...options, prototxtName: names.prototxtPath, caffemodelName: names.caffemodelPath });
  const unfused = encodeModel(model);
  const t1 = performance.now();
  const { model: folded, report } = foldBatchNorm(model);
  const bytes = encodeModel(folded);
  const t2 = performance.now();
  const verification = options.verify === false ? null : await verifyFold(unfused, bytes, { rtol: options.rtol, atol: options.atol });
  const t3 = performance.now();
  return {
    ...names,
    bytes,
    unfused,
    spec,
    caffe: summary,
    report,
    verification,
    before: graphSummary(model, unfused.byteLength),
    after: graphSummary(folded, bytes.byteLength),
    timings: { readMs: 0, importMs: t1 - t0, foldMs: t2 - t1, verifyMs: t3 - t2, totalMs: t3 - t0 },
  };
}

/**
 * Reads the two files and converts. Throws CaffeImportError for unusable input and
 * CaffeVerificationError when verification fails; writes nothing.
 */
export async function convertCaffe(prototxtPath: string, caffemodelPath: string, options: ConvertCaffeOptions = {}): Promise<ConvertCaffeResult> {
  const t0 = performance.now();
  const text = readInput(prototxtPath, 'prototxt', MAX_PROTOTXT_BYTES).toString('utf8');
  // The file bytes are read once; the weights stay views of them (see caffemodel.ts).
  const weights = readCaffemodel(readInput(caffemodelPath, 'caffemodel', MAX_CAFFEMODEL_BYTES), caffemodelPath);
  const readMs = performance.now() - t0;
  const result = await convertCaffeModel(text, weights, { prototxtPath, caffemodelPath }, options);
  result.timings.readMs = readMs;
  result.timings.totalMs += readMs;
  const v = result.verification;
  if (v && !v.ok) {
    const what = v.error ?? `max abs error ${v.maxAbsError.toExponential(2)} exceeds atol ${v.atol} + rtol ${v.rtol} * |ref|`;
    throw new CaffeVerificationError(`verification failed: ${what}; nothing written`, result);
  }
  return result;
}

// ---- human summary ------------------------------------------------------------------------------

function mb(bytes: number): string {
  return `${(bytes / 1e6).toFixed(2)} MB`;
}

function ops(counts: Record<string, number>): string {
  return Object.entries(counts)
    .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
    .map(([op, n]) => `${op} ${n}`)
    .join(', ');
}

function num(n: number): string {
  return n !== 0 && Math.abs(n) < 1e-3 ? n.toExponential() : String(n);
}

function shape(dims: readonly (number | string)[]): string {
  return `[${dims.join(',')}]`;
}

export function formatCaffeSummary(r: ConvertCaffeResult, outputPath: string): string {
  const c = r.caffe;
  const lines = [`bn-fuse convert: ${r.prototxtPath} + ${r.caffemodelPath} -> ${outputPath}`];
  lines.push(`  caffe: net '${c.netName || '?'}', ${c.layers} layers (${c.prototxtFormat === 'layers' ? 'legacy V1 layers' : 'layer'} form): ${ops(c.layerTypes)}`);
  lines.push(`    weights: ${c.weightValues} values (${c.weightsFormat === 'layers' ? 'legacy V1 layers' : c.weightsFormat} form)`);
  lines.push(`    BatchNorm+Scale pairs ${c.batchNormScalePairs}, BatchNorm alone ${c.batchNormAlone}, Scale alone ${c.scaleAlone}`);
  if (c.filteredOut.length > 0) lines.push(`    excluded by phase rules: ${c.filteredOut.join(', ')}`);
  if (c.deadLayers.length > 0) lines.push(`    not contributing to any output (dropped): ${c.deadLayers.join(', ')}`);
  if (c.unusedWeights.length > 0) lines.push(`    caffemodel layers not in the prototxt (ignored): ${c.unusedWeights.join(', ')}`);
  lines.push(`  inputs: ${c.inputs.map((i) => `${i.name} ${shape(i.shape)}`).join(', ')}; outputs: ${c.outputs.map((o) => `${o.name} ${shape(o.shape)}`).join(', ')}`);
  const s = r.spec;
  if (s && s.priors.kind === 'priorbox') {
    const heads = s.priors.heads.map((h) => `${h.featureMap[0]}x${h.featureMap[1]}`).join(', ');
    const labels = s.labels.length <= 6 ? s.labels.join(', ') : `${s.labels.slice(0, 4).join(', ')}, ... ${s.labels[s.labels.length - 1]}`;
    lines.push(`  ssd.spec: ${countPriors(s)} priors from ${s.priors.heads.length} PriorBox heads (${heads}), ${s.labels.length} classes (${labels}), background ${s.backgroundLabelId}`);
    lines.push(`    ${s.codeType}, score > ${num(s.nms.scoreThreshold)}, NMS IoU ${s.nms.iouThreshold} top_k ${s.nms.topK} keep_top_k ${s.nms.keepTopK}; input ${s.input.width}x${s.input.height} ${s.input.channelOrder}, mean ${s.input.mean[0]}, scale ${s.input.scale}`);
  }
  const report = r.report;
  lines.push(`  BatchNormalization: ${report.batchNormFound} found, ${report.batchNormFolded} folded, ${report.batchNormLeft} left`);
  for (const left of report.left) lines.push(`    left ${left.batchNorm}: ${left.code}: ${left.reason}`);
  lines.push(`  nodes: ${r.before.nodes} -> ${r.after.nodes}`);
  lines.push(`    before: ${ops(r.before.opCounts)}`);
  lines.push(`    after:  ${ops(r.after.opCounts)}`);
  lines.push(`  size: ${mb(r.before.bytes)} -> ${mb(r.after.bytes)}`);
  const v = r.verification;
  if (!v) {
    lines.push('  verify: skipped (--no-verify)');
  } else {
    const shapes = Object.entries(v.inputShapes).map(([n, d]) => `${n}[${d.join(',')}]`).join(' ');
    lines.push(`  verify: ${v.ok ? 'OK' : 'FAILED'}: max abs error ${v.maxAbsError.toExponential(2)}, max rel error ${v.maxRelError.toExponential(2)} (rtol ${num(v.rtol)}, atol ${num(v.atol)}; unfused vs folded in onnxruntime, optimizations disabled, random ${shapes})`);
    if (v.error) lines.push(`    ${v.error}`);
    for (const o of v.outputs) lines.push(`    ${o.name} [${o.shape.join(',')}]: max abs ${o.maxAbsError.toExponential(2)}, max rel ${o.maxRelError.toExponential(2)}`);
  }
  const t = r.timings;
  lines.push(`  time: ${(t.totalMs / 1000).toFixed(2)} s (read ${t.readMs.toFixed(0)} ms, import ${t.importMs.toFixed(0)} ms, fold ${t.foldMs.toFixed(0)} ms, verify ${t.verifyMs.toFixed(0)} ms)`);
  return lines.join('\n');
}
