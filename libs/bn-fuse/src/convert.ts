// The conversion pipeline shared by the CLI and prepareDefaultModel: decode -> validate -> fold ->
// encode -> verify -> atomic write. Input problems (missing file, not an ONNX protobuf, truncated,
// structurally invalid, same path as the output, unreadable external data) are InputErrors (CLI exit
// code 2); a fold outside tolerance is a VerificationFailedError (exit code 1) and nothing is
// written.
//
// convertFile keeps memory low for large models: large raw tensors stay in the input file and are
// read when needed (model-file.ts), the fused weights are not stored but computed again as they are
// written (FoldOptions.deferWeights), and the output is streamed to a temporary file in chunks
// (encodeModelChunks) rather than built in memory. The converter thus holds one tensor at a time.
// Verification runs onnxruntime on the input file and that temporary file; only then is it renamed
// into place.
//
// External data: see external-data.ts for the policy. With external data, the temporary model and
// data file are written to a hidden directory next to the output, verified there, then put in
// place by commit.ts: the data file under a content-addressed name first, then the model, so that
// a crash leaves the previous pair or the new one, never a mix.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { OnnxDecodeError, concatChunks, decodeModel, encodeModelChunks, findUnknownFields } from './codec';
import { stageOutput as stageFiles, StagedOutput } from './commit';
import { ExternalDataReader, forEachTensor, usesExternalData } from './external-data';
import { FoldOptions, FoldReport, foldBatchNorm } from './fold';
import { isSameFile } from './fs-util';
import { FileRefusal } from './safe-open';
import { inspectDecodedModel } from './inspect';
import { ModelFile, attachLazyData, readModelFile } from './model-file';
import { GraphProto, ModelProto, TensorProto } from './onnx-types';
import { TensorDataError, isExternalTensor, readTensorFloat64, withFloatValues } from './tensor';
import { ModelValidationError, validateModel } from './validate';
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

export interface ConvertOptions extends Omit<FoldOptions, 'externalData' | 'deferWeights'> {
  /** Run both models in onnxruntime and compare (default true). */
  verify?: boolean;
  rtol?: number;
  atol?: number;
  /**
   * Called with the folded model before it is encoded; may modify it. For tests (e.g. to corrupt a
   * fold and check that verification catches it).
   */
  afterFold?: (model: ModelProto, report: FoldReport) => void;
}

export interface ModelSummary {
  /** Size of the model file. */
  bytes: number;
  /** Size of the external data (absent when the model has none). */
  externalBytes?: number;
  nodes: number;
  batchNorms: number;
  opCounts: Record<string, number>;
}

export interface ConvertTimings {
  decodeMs: number;
  foldMs: number;
  /** Encoding, and for convertFile writing the temporary file(s). */
  encodeMs: number;
  verifyMs: number;
  totalMs: number;
}

export interface ConvertResult {
  bytes: Uint8Array;
  report: FoldReport;
  /** null with verify: false. */
  verification: VerifyResult | null;
  before: ModelSummary;
  after: ModelSummary;
  timings: ConvertTimings;
}

export interface ConvertFileResult extends Omit<ConvertResult, 'bytes'> {
  inputPath: string;
  outputPath: string;
  /**
   * The external data file written next to the output (`<output>.<sha256 prefix>.data`), when the
   * input used external data and large tensors remain.
   */
  externalDataPath?: string;
}

function summarise(model: ModelProto, bytes: number, externalBytes?: number): ModelSummary {
  const info = inspectDecodedModel(model);
  return { bytes, ...(externalBytes === undefined ? {} : { externalBytes }), nodes: info.nodeCount, batchNorms: info.batchNormCount, opCounts: info.opCounts };
}

/** Decodes and structurally validates model bytes; every problem is an InputError. */
function decodeInput(input: Uint8Array): ModelProto {
  try {
    // Fields our schema does not know would be dropped on re-encoding: refuse rather than lose them.
    const unknown = findUnknownFields(input);
    if (unknown.length > 0) throw new OnnxDecodeError(`the model uses fields this converter does not know (${unknown.join(', ')}); re-encoding would drop them`);
    const model = decodeModel(input);
    validateModel(model);
    return model;
  } catch (err) {
    if (err instanceof OnnxDecodeError || err instanceof ModelValidationError) throw new InputError(err.message);
    throw err;
  }
}

/** Decodes, folds, re-encodes and (by default) verifies a model held in memory. */
export async function convertModel(input: Uint8Array, options: ConvertOptions = {}): Promise<ConvertResult> {
  const t0 = performance.now();
  const model = decodeInput(input);
  if (usesExternalData(model)) throw new InputError('the model stores tensors as external data; convert it from its file so the data can be found');
  const t1 = performance.now();
  const { model: folded, report } = foldBatchNorm(model, options);
  options.afterFold?.(folded, report);
  const t2 = performance.now();
  const bytes = concatChunks(encodeModelChunks(folded));
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
 * Converts `inputPath` into `outputPath`. Never writes over the input (or its external data),
 * writes atomically, and writes nothing when verification fails.
 */
export async function convertFile(inputPath: string, outputPath: string, options: ConvertOptions = {}): Promise<ConvertFileResult> {
  if (isSameFile(inputPath, outputPath)) throw new InputError(`output '${outputPath}' is the input file; refusing to overwrite it`);
  const t0 = performance.now();
  let file: ModelFile;
  try {
    file = readModelFile(inputPath);
  } catch (err) {
    throw new InputError(`cannot read input '${inputPath}': ${err instanceof FileRefusal ? err.reason : describeFsError(err)}`);
  }
  let reader: ExternalDataReader | undefined;
  try {
    let model: ModelProto;
    try {
      model = decodeInput(file.skeleton);
      attachLazyData(model, file);
    } catch (err) {
      if (err instanceof InputError) throw new InputError(`input '${inputPath}' is not a usable ONNX model: ${err.message}`);
      throw err;
    }
    if (usesExternalData(model)) reader = new ExternalDataReader(path.dirname(path.resolve(inputPath)));
    let inputExternalBytes: number | undefined;
    const ext = reader;
    if (ext) {
      try {
        ext.checkAll(model);
      } catch (err) {
        if (err instanceof TensorDataError) throw new InputError(`input '${inputPath}': ${err.message}`);
        throw err;
      }
      inputExternalBytes = 0;
      forEachTensor(model, (t) => {
        if (isExternalTensor(t)) inputExternalBytes = (inputExternalBytes ?? 0) + ext.region(t).length;
      });
      // Read in ranges, as the fold streams weights in windows.
      ext.attachLazyData(model);
    }
    const before = summarise(model, file.size, inputExternalBytes);
    const t1 = performance.now();
    const externalData = ext ? (t: TensorProto) => ext.read(t) : undefined;
    const { model: folded, report } = foldBatchNorm(model, { ...options, externalData, deferWeights: true });
    options.afterFold?.(folded, report);
    const t2 = performance.now();
    const staged = stageOutput(folded, outputPath, reader);
    try {
      const inputDataFiles = reader ? reader.files(model) : [];
      const finalData = staged.finalDataPath;
      if (finalData && inputDataFiles.some((f) => isSameFile(f, finalData))) {
        throw new InputError(`output data file '${finalData}' is the input's external data file; refusing to overwrite it`);
      }
      const t3 = performance.now();
      const verification =
        options.verify === false ? null : await verifyFold(inputPath, staged.modelPath, { rtol: options.rtol ?? DEFAULT_RTOL, atol: options.atol ?? DEFAULT_ATOL, reference: model });
      const t4 = performance.now();
      const result: ConvertFileResult = {
        report,
        verification,
        before,
        after: summarise(folded, staged.modelBytes, staged.dataPath ? fs.statSync(staged.dataPath).size : undefined),
        timings: { decodeMs: t1 - t0, foldMs: t2 - t1, encodeMs: t3 - t2, verifyMs: t4 - t3, totalMs: t4 - t0 },
        inputPath,
        outputPath,
        ...(staged.finalDataPath ? { externalDataPath: staged.finalDataPath } : {}),
      };
      if (verification && !verification.ok) {
        const what = verification.error ?? `max abs error ${verification.maxAbsError.toExponential(2)} exceeds atol ${verification.atol} + rtol ${verification.rtol} * |ref|`;
        // float16 arithmetic alone differs at ~1e-3 between any two evaluation orders.
        const hint = verification.outputs.some((o) => o.type === 'float16') && !verification.error ? ' (float16 outputs: rounding alone is ~1e-3 relative; consider --rtol 1e-2 --atol 1e-2)' : '';
        throw new VerificationFailedError(`verification failed: ${what}${hint}; nothing written`, result);
      }
      try {
        staged.commit(inputDataFiles);
      } catch (err) {
        throw new OutputError(`cannot write output '${outputPath}': ${describeFsError(err)}`);
      }
      return result;
    } finally {
      staged.discard();
    }
  } finally {
    reader?.close();
    file.close();
  }
}

/** Stages the output (commit.ts), with its errors as the CLI reports them. */
function stageOutput(model: ModelProto, outputPath: string, reader: ExternalDataReader | undefined): StagedOutput {
  try {
    return stageFiles(model, outputPath, reader);
  } catch (err) {
    if (err instanceof TensorDataError) throw new InputError(err.message);
    throw new OutputError(`cannot write output '${outputPath}': ${describeFsError(err)}`);
  }
}

/**
 * Test hook: multiplies the first element of the first fused weight by 1.5 (+ 1), so that the
 * folded model is wrong and verification must fail. Used by the CLI when BN_FUSE_TEST_HOOK is
 * `corrupt-fold`; never in normal operation.
 */
export function corruptFoldForTesting(model: ModelProto, report: FoldReport): void {
  const target = report.folded[0]?.weight.to;
  if (!target) return;
  const visit = (g: GraphProto): boolean => {
    const i = g.initializer.findIndex((t) => t.name === target);
    if (i >= 0) {
      const values = readTensorFloat64(g.initializer[i]);
      values[0] = values[0] * 1.5 + 1;
      g.initializer[i] = withFloatValues(g.initializer[i], values);
      return true;
    }
    return g.node.some((n) => n.attribute.some((a) => [...(a.g ? [a.g] : []), ...a.graphs].some(visit)));
  };
  if (model.graph) visit(model.graph);
}

// ---- human summary ------------------------------------------------------------------------------

function num(n: number): string {
  return n !== 0 && Math.abs(n) < 1e-3 ? n.toExponential() : String(n);
}

function mb(bytes: number): string {
  return bytes < 1e5 ? `${(bytes / 1e3).toFixed(1)} kB` : `${(bytes / 1e6).toFixed(2)} MB`;
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
  for (const left of report.left) lines.push(`    left ${left.graph ? `${left.graph}: ` : ''}${left.batchNorm}: ${left.code}: ${left.reason}`);
  for (const note of report.notes) lines.push(`    note: ${note}`);
  lines.push(`  nodes: ${r.before.nodes} -> ${r.after.nodes}`);
  lines.push(`    before: ${ops(r.before)}`);
  lines.push(`    after:  ${ops(r.after)}`);
  lines.push(`  initializers: ${report.initializersRemoved.length} removed, ${report.initializersAdded.length} added`);
  const total = (m: ModelSummary) => m.bytes + (m.externalBytes ?? 0);
  const size = (m: ModelSummary) => (m.externalBytes === undefined ? mb(m.bytes) : `${mb(m.bytes)} + ${mb(m.externalBytes)} external`);
  const delta = total(r.after) - total(r.before);
  lines.push(`  size: ${size(r.before)} -> ${size(r.after)} (${delta >= 0 ? '+' : ''}${delta} bytes)`);
  if (r.externalDataPath) lines.push(`  external data: ${r.externalDataPath}`);
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
