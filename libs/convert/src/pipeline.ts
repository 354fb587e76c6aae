// The one conversion pipeline behind `model convert`, `model import-caffe`, `model import-tfjs` and
// the built-in models: input -> fold -> stage -> verify -> commit. Whatever the front end, the
// output is written the same way and reported by the same formatter (report.ts).
//
// Memory: the fused weights are not stored but computed again as they are written
// (FoldOptions.deferWeights) and the output is streamed to a staged file in chunks, so with a lazily
// read ONNX input the converter holds one tensor at a time.
//
// Writing: onnx-io's stageOutput writes the model (and its external data) to a hidden staging
// place next to the output; onnxruntime verifies the staged file against the input; only then is
// it committed (data file under a content-addressed name first, then the model), so a failed
// verification or a crash never leaves a partial or unverified model where a detector would load it.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { type FoldOptions, type FoldReport, type VerifyResult, DEFAULT_ATOL, DEFAULT_RTOL, foldBatchNorm, verifyFold } from '@edge-ssd/bn-fuse';
import { type ModelProto, type StagedOutput, TensorDataError, inspectDecodedModel, isSameFile, stageOutput, writeFileAtomic } from '@edge-ssd/onnx-io';
import { InputError, type Provenance } from '@edge-ssd/importers';
import { SSD_SPEC_METADATA_KEY, type SsdSpec, parseSsdSpec } from '@edge-ssd/ssd-core';
import { type ConversionInput, describeFsError } from './input';

/** The output cannot be written (missing directory, permissions); exit code 1 in the CLI. */
export class OutputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'OutputError';
  }
}

/** The converted model differs from its input by more than the tolerance; nothing was written. */
export class VerificationFailedError extends Error {
  constructor(
    message: string,
    readonly result: ConvertResult,
  ) {
    super(message);
    this.name = 'VerificationFailedError';
  }
}

export interface ConvertOptions extends Pick<FoldOptions, 'sharedWeights' | 'initializerInputs'> {
  /** Run the model before and after the passes in onnxruntime and compare (default true). */
  verify?: boolean;
  /** Default: the front end's tolerance, else bn-fuse's DEFAULT_RTOL / DEFAULT_ATOL. */
  rtol?: number;
  atol?: number;
  /** Also write the model as imported, before folding (front-end inputs only). */
  unfusedOutput?: string;
}

export interface ModelSummary {
  bytes: number;
  /** Size of the external data (absent when the model has none). */
  externalBytes?: number;
  nodes: number;
  batchNorms: number;
  opCounts: Record<string, number>;
}

interface ConvertTimings {
  readMs: number;
  importMs: number;
  foldMs: number;
  /** Encoding and writing the staged file(s). */
  encodeMs: number;
  verifyMs: number;
  totalMs: number;
}

export interface ConvertResult {
  input: Omit<Provenance, 'tolerance'>;
  outputPath: string;
  /** `<output>.<sha256 prefix>.data`, when large tensors stay in external data. */
  externalDataPath?: string;
  unfusedOutputPath?: string;
  /** The spec the model carries in its `ssd.spec` metadata; null when it has none. */
  spec: SsdSpec | null;
  report: FoldReport;
  /** null with verify: false. */
  verification: VerifyResult | null;
  before: ModelSummary;
  after: ModelSummary;
  timings: ConvertTimings;
}

function summarise(model: ModelProto, size: { bytes: number; externalBytes?: number }): ModelSummary {
  const info = inspectDecodedModel(model);
  return { ...size, nodes: info.nodeCount, batchNorms: info.batchNormCount, opCounts: info.opCounts };
}

function specOf(model: ModelProto): SsdSpec | null {
  const text = model.metadata_props.find((p) => p.key === SSD_SPEC_METADATA_KEY)?.value;
  if (text === undefined) return null;
  try {
    return parseSsdSpec(text);
  } catch {
    // The detector refuses such a model with the spec's own error; the converter only reports.
    return null;
  }
}

function refuseOverwrites(input: ConversionInput, outputPath: string, unfusedOutput: string | undefined): void {
  for (const out of [outputPath, unfusedOutput]) {
    if (out === undefined) continue;
    for (const file of input.provenance.files) if (isSameFile(file, out)) throw new InputError(`output '${out}' is the input file '${file}'; refusing to overwrite it`);
  }
  if (unfusedOutput === undefined) return;
  if (typeof input.reference === 'string') throw new InputError('--unfused-output is for imports: an ONNX input already is the unfused model');
  if (path.resolve(unfusedOutput) === path.resolve(outputPath)) throw new InputError('--unfused-output must differ from --output');
}

function stage(model: ModelProto, outputPath: string, input: ConversionInput): StagedOutput {
  try {
    return stageOutput(model, outputPath, input.externalData);
  } catch (err) {
    if (err instanceof TensorDataError) throw new InputError(err.message);
    throw new OutputError(`cannot write output '${outputPath}': ${describeFsError(err)}`);
  }
}

function failure(v: VerifyResult): string {
  const what = v.error ?? `max abs error ${v.maxAbsError.toExponential(2)} exceeds atol ${v.atol} + rtol ${v.rtol} * |ref|`;
  // float16 arithmetic alone differs at ~1e-3 between any two evaluation orders.
  const hint = !v.error && v.outputs.some((o) => o.type === 'float16') ? ' (float16 outputs: rounding alone is ~1e-3 relative; consider --rtol 1e-2 --atol 1e-2)' : '';
  return `verification failed: ${what}${hint}; nothing written`;
}

/**
 * Converts `input` into `outputPath`: folds, stages, verifies, commits. Never writes over an input
 * file, writes nothing when verification fails (VerificationFailedError carries the full result),
 * and closes the input.
 */
export async function convert(input: ConversionInput, outputPath: string, options: ConvertOptions = {}): Promise<ConvertResult> {
  try {
    refuseOverwrites(input, outputPath, options.unfusedOutput);
    const t0 = performance.now();
    const ext = input.externalData;
    const { model: folded, report } = foldBatchNorm(input.model, {
      sharedWeights: options.sharedWeights,
      initializerInputs: options.initializerInputs,
      externalData: ext ? (t) => ext.read(t) : undefined,
      deferWeights: true,
    });
    const t1 = performance.now();
    const staged = stage(folded, outputPath, input);
    try {
      const inputDataFiles = ext ? ext.files(input.model) : [];
      const finalData = staged.finalDataPath;
      if (finalData && inputDataFiles.some((f) => isSameFile(f, finalData))) {
        throw new InputError(`output data file '${finalData}' is the input's external data file; refusing to overwrite it`);
      }
      const t2 = performance.now();
      const tolerance = { rtol: options.rtol ?? input.provenance.tolerance?.rtol ?? DEFAULT_RTOL, atol: options.atol ?? input.provenance.tolerance?.atol ?? DEFAULT_ATOL };
      const verification = options.verify === false ? null : await verifyFold(input.reference, staged.modelPath, { ...tolerance, reference: input.model });
      const t3 = performance.now();
      const { tolerance: _tolerance, ...provenance } = input.provenance;
      void _tolerance;
      const result: ConvertResult = {
        input: provenance,
        outputPath,
        ...(finalData ? { externalDataPath: finalData } : {}),
        ...(options.unfusedOutput === undefined ? {} : { unfusedOutputPath: options.unfusedOutput }),
        spec: specOf(folded),
        report,
        verification,
        before: summarise(input.model, input.size),
        after: summarise(folded, { bytes: staged.modelBytes, ...(staged.dataPath ? { externalBytes: fs.statSync(staged.dataPath).size } : {}) }),
        timings: { ...input.timings, foldMs: t1 - t0, encodeMs: t2 - t1, verifyMs: t3 - t2, totalMs: input.timings.readMs + input.timings.importMs + (t3 - t0) },
      };
      if (verification && !verification.ok) throw new VerificationFailedError(failure(verification), result);
      for (const [file, write] of [
        [outputPath, () => staged.commit(inputDataFiles)],
        [options.unfusedOutput, () => writeFileAtomic(options.unfusedOutput!, input.reference)],
      ] as const) {
        try {
          if (file !== undefined) write();
        } catch (err) {
          throw new OutputError(`cannot write output '${file}': ${describeFsError(err)}`);
        }
      }
      return result;
    } finally {
      staged.discard();
    }
  } finally {
    input.close();
  }
}
