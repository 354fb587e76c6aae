// The conversion pipeline shared by the CLI and prepareDefaultModel: decode -> fold -> encode ->
// verify -> atomic write. Input problems (missing file, not an ONNX protobuf, truncated, same path
// as the output) are InputErrors (CLI exit code 2); a fold outside tolerance is a
// VerificationFailedError (exit code 1) and nothing is written.
import * as fs from 'node:fs';
import { OnnxDecodeError, decodeModel, encodeModel, findUnknownFields } from './codec';
import { FoldOptions, FoldReport, foldBatchNorm } from './fold';
import { writeFileAtomic, isSameFile } from './fs-util';
import { inspectDecodedModel } from './inspect';
import { ModelProto } from './onnx-types';
import { DEFAULT_ATOL, DEFAULT_RTOL, VerifyResult, verifyFold } from './verify';

/** The input cannot be used (exit code 2 in the CLI). */
export class InputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InputError';
  }
}

/** The output cannot be written (missing directory, permissions); exit code 1 in the CLI. */
export class OutputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'OutputError';
  }
}

function describeFsError(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return 'no such file or directory';
  if (code === 'EISDIR') return 'is a directory';
  if (code === 'EACCES' || code === 'EPERM') return 'permission denied';
  return err instanceof Error ? err.message : String(err);
}

/** The folded model differs from the original by more than the tolerance. */
export class VerificationFailedError extends Error {
  constructor(
    message: string,
    readonly result: ConvertFileResult,
  ) {
    super(message);
    this.name = 'VerificationFailedError';
  }
}

export interface ConvertOptions extends FoldOptions {
  /** Run both models in onnxruntime and compare (default true). */
  verify?: boolean;
  rtol?: number;
  atol?: number;
}

export interface ModelSummary {
  bytes: number;
  nodes: number;
  batchNorms: number;
  opCounts: Record<string, number>;
}

export interface ConvertResult {
  bytes: Uint8Array;
  report: FoldReport;
  /** null with verify: false. */
  verification: VerifyResult | null;
  before: ModelSummary;
  after: ModelSummary;
  timings: { decodeMs: number; foldMs: number; encodeMs: number; verifyMs: number; totalMs: number };
}

export interface ConvertFileResult extends ConvertResult {
  inputPath: string;
  outputPath: string;
}

function summarise(model: ModelProto, bytes: number): ModelSummary {
  const info = inspectDecodedModel(model);
  return { bytes, nodes: info.nodeCount, batchNorms: info.batchNormCount, opCounts: info.opCounts };
}

/** Decodes, folds, re-encodes and (by default) verifies a model held in memory. */
export async function convertModel(input: Uint8Array, options: ConvertOptions = {}): Promise<ConvertResult> {
  const t0 = performance.now();
  let model: ModelProto;
  try {
    // Fields our schema does not know would be dropped on re-encoding: refuse rather than lose them.
    const unknown = findUnknownFields(input);
    if (unknown.length > 0) throw new OnnxDecodeError(`the model uses fields this converter does not know (${unknown.join(', ')}); re-encoding would drop them`);
    model = decodeModel(input);
  } catch (err) {
    if (err instanceof OnnxDecodeError) throw new InputError(err.message);
    throw err;
  }
  const t1 = performance.now();
  const { model: folded, report } = foldBatchNorm(model, options);
  const t2 = performance.now();
  const bytes = encodeModel(folded);
  const t3 = performance.now();
  const verification = options.verify === false ? null : await verifyFold(input, bytes, { rtol: options.rtol ?? DEFAULT_RTOL, atol: options.atol ?? DEFAULT_ATOL });
  const t4 = performance.now();
  return {
    bytes,
    report,
    verification,
    before: summarise(model, input.byteLength),
    after: summarise(folded, bytes.byteLength),
    timings: { decodeMs: t1 - t0, foldMs: t2 - t1, encodeMs: t3 - t2, verifyMs: t4 - t3, totalMs: t4 - t0 },
  };
}

/**
 * Converts `inputPath` into `outputPath`. Never writes over the input, writes atomically, and
 * writes nothing when verification fails.
 */
export async function convertFile(inputPath: string, outputPath: string, options: ConvertOptions = {}): Promise<ConvertFileResult> {
  if (isSameFile(inputPath, outputPath)) throw new InputError(`output '${outputPath}' is the input file; refusing to overwrite it`);
  let input: Uint8Array;
  try {
    input = fs.readFileSync(inputPath);
  } catch (err) {
    throw new InputError(`cannot read input '${inputPath}': ${describeFsError(err)}`);
  }
  let result: ConvertResult;
  try {
    result = await convertModel(input, options);
  } catch (err) {
    if (err instanceof InputError) throw new InputError(`input '${inputPath}' is not a usable ONNX model: ${err.message}`);
    throw err;
  }
  const full: ConvertFileResult = { ...result, inputPath, outputPath };
  const v = result.verification;
  if (v && !v.ok) {
    const what = v.error ?? `max abs error ${v.maxAbsError.toExponential(2)} exceeds atol ${v.atol} + rtol ${v.rtol} * |ref|`;
    throw new VerificationFailedError(`verification failed: ${what}; nothing written`, full);
  }
  try {
    writeFileAtomic(outputPath, result.bytes);
  } catch (err) {
    throw new OutputError(`cannot write output '${outputPath}': ${describeFsError(err)}`);
  }
  return full;
}

// ---- human summary ------------------------------------------------------------------------------

function num(n: number): string {
  return n !== 0 && Math.abs(n) < 1e-3 ? n.toExponential() : String(n);
}

function mb(bytes: number): string {
  return `${(bytes / 1e6).toFixed(2)} MB`;
}

function ops(summary: ModelSummary): string {
  const entries = Object.entries(summary.opCounts).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
  return entries.map(([op, n]) => `${op} ${n}`).join(', ');
}

export function formatSummary(r: ConvertFileResult): string {
  const { report } = r;
  const lines = [
    `bn-fuse convert: ${r.inputPath} -> ${r.outputPath}`,
    `  BatchNormalization: ${report.batchNormFound} found, ${report.batchNormFolded} folded, ${report.batchNormLeft} left`,
  ];
  for (const left of report.left) lines.push(`    left ${left.batchNorm}: ${left.code}: ${left.reason}`);
  for (const note of report.notes) lines.push(`    note: ${note}`);
  lines.push(`  nodes: ${r.before.nodes} -> ${r.after.nodes}`);
  lines.push(`    before: ${ops(r.before)}`);
  lines.push(`    after:  ${ops(r.after)}`);
  lines.push(`  initializers: ${report.initializersRemoved.length} removed, ${report.initializersAdded.length} added`);
  const delta = r.after.bytes - r.before.bytes;
  lines.push(`  size: ${mb(r.before.bytes)} -> ${mb(r.after.bytes)} (${delta >= 0 ? '+' : ''}${delta} bytes)`);
  const v = r.verification;
  if (!v) {
    lines.push('  verify: skipped (--no-verify)');
  } else {
    const shapes = Object.entries(v.inputShapes).map(([n, s]) => `${n}[${s.join(',')}]`).join(' ');
    lines.push(`  verify: ${v.ok ? 'OK' : 'FAILED'}: max abs error ${v.maxAbsError.toExponential(2)}, max rel error ${v.maxRelError.toExponential(2)} (rtol ${num(v.rtol)}, atol ${num(v.atol)}; onnxruntime, optimizations disabled, random ${shapes})`);
    for (const o of v.outputs) {
      lines.push(`    ${o.name} [${o.shape.join(',')}]: max abs ${o.maxAbsError.toExponential(2)}, max rel ${o.maxRelError.toExponential(2)}, ${(o.worstToleranceRatio * 100).toFixed(0)}% of tolerance`);
    }
  }
  const t = r.timings;
  lines.push(`  time: ${(t.totalMs / 1000).toFixed(2)} s (decode ${t.decodeMs.toFixed(0)} ms, fold ${t.foldMs.toFixed(0)} ms, encode ${t.encodeMs.toFixed(0)} ms, verify ${t.verifyMs.toFixed(0)} ms)`);
  return lines.join('\n');
}

/** The JSON report written by `--report`. */
export function reportJson(r: ConvertFileResult): string {
  // The model bytes themselves are not part of the report.
  return `${JSON.stringify(r, (key, value) => (key === 'bytes' && value instanceof Uint8Array ? undefined : value), 2)}\n`;
}
