// The quantization pipeline behind `model quantize` and the built-in INT8 models:
// fp32 model -> calibration table (measured, or read) -> QDQ rewrite -> agreement with fp32 on the
// image sets -> atomic write. The rewrite from a table is pure (quantizeFromTable), so a committed
// table makes the same bytes on every machine; the model is written only when every image set
// measured agrees with fp32 at least as much as the threshold.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as ort from 'onnxruntime-node';
import { OutputError } from '@edge-ssd/convert';
import { InputError } from '@edge-ssd/importers';
import { type ModelProto, FileRefusal, decodeModel, encodeModel, inspectDecodedModel, isSameFile, readRegularFile, usesExternalData, writeFileAtomic } from '@edge-ssd/onnx-io';
import { SSD_SPEC_METADATA_KEY, type SsdSpec, parseSsdSpec } from '@edge-ssd/ssd-core';
import { PRECISION_METADATA_KEY } from '@edge-ssd/ssd-pipeline';
import { type Agreement, type AgreementCriteria, DEFAULT_CRITERIA, measureAgreement } from './agreement';
import { calibrate } from './calibrate';
import { type NamedImage, preprocessNamed, readImages } from './images';
import { keepMatcher, planQuantization } from './plan';
import { QUANTIZATION_KEY, type QdqSummary, quantizeQdq } from './qdq';
import { type CalibrationMethod, type CalibrationTable, TableError, parseTable, serializeTable, tableRanges } from './table';

const sha256 = (bytes: Uint8Array | string) => createHash('sha256').update(bytes).digest('hex');

/** INT8 detections agree with fp32 less than the threshold on an image set; nothing was written. */
export class AgreementError extends Error {
  constructor(
    message: string,
    readonly result: QuantizeResult,
  ) {
    super(message);
    this.name = 'AgreementError';
  }
}

/**
 * Quantizes an fp32 model's bytes with a calibration table: a pure function of its arguments.
 * `keepFp32`: patterns of Convs to leave in fp32 (see keepMatcher).
 */
export function quantizeFromTable(modelBytes: Uint8Array, table: CalibrationTable, keepFp32: readonly string[] = []): { bytes: Uint8Array; summary: QdqSummary } {
  const actual = sha256(modelBytes);
  if (table.modelSha256 !== actual) throw new InputError(`the calibration table was measured on the model with sha256 ${table.modelSha256}, not on this one (${actual})`);
  const model = decodeModel(modelBytes);
  let keep;
  try {
    keep = keepMatcher(model, keepFp32);
  } catch (err) {
    throw new InputError((err as Error).message);
  }
  const plan = planQuantization(model, keep);
  const quantization = { method: table.method, ...(table.percentile === undefined ? {} : { percentile: table.percentile }), tableSha256: sha256(serializeTable(table)), keepFp32: [...keepFp32] };
  const { model: quantized, summary } = quantizeQdq(model, plan, tableRanges(table), { [PRECISION_METADATA_KEY]: 'int8', [QUANTIZATION_KEY]: JSON.stringify(quantization) });
  return { bytes: encodeModel(quantized), summary };
}

export interface QuantizeOptions {
  /** Calibration images (files or directories); required without `fromTable`. */
  calibration?: readonly string[];
  method?: CalibrationMethod;
  percentile?: number;
  /** A table file to quantize from instead of calibrating. */
  fromTable?: string;
  /** Where to write the table measured (ignored with fromTable). */
  tableOutput?: string;
  /** A note for the table (how it was made). */
  note?: string;
  keepFp32?: readonly string[];
  /** Evaluation images (files or directories), distinct from the calibration ones. */
  evaluation?: readonly string[];
  /** Least agreement (found / (references + extras)) on every image set measured; default 1. */
  minAgreement?: number;
  criteria?: AgreementCriteria;
  /** Also time raw onnxruntime inference of both models (default true). */
  timing?: boolean;
}

interface ImageSetAgreement {
  set: 'calibration' | 'evaluation';
  agreement: Agreement;
}

export interface QuantizeResult {
  input: string;
  output: string;
  spec: SsdSpec | null;
  table: CalibrationTable;
  /** Where the table came from: a file, or measured now. */
  tableSource: string;
  summary: QdqSummary;
  minAgreement: number;
  agreements: ImageSetAgreement[];
  /** ms per image of raw onnxruntime (batch 1, one thread), informative. */
  speed?: { fp32Ms: number; int8Ms: number; image: string };
  bytes: { fp32: number; int8: number };
  sha256: string;
  ops: Record<string, number>;
  seconds: number;
}

function readModel(file: string): { bytes: Uint8Array; model: ModelProto } {
  let bytes: Uint8Array;
  try {
    bytes = readRegularFile(file, 2 * 1024 * 1024 * 1024 - 1);
  } catch (err) {
    throw new InputError(`cannot read input '${file}': ${err instanceof FileRefusal ? err.reason : (err as Error).message}`);
  }
  let model: ModelProto;
  try {
    model = decodeModel(bytes);
  } catch (err) {
    throw new InputError(`input '${file}' is not a usable ONNX model: ${(err as Error).message}`);
  }
  if (usesExternalData(model)) throw new InputError(`input '${file}' keeps tensors in external data; the quantizer reads single-file models`);
  if (!model.graph) throw new InputError(`input '${file}' has no graph`);
  return { bytes, model };
}

function specOf(model: ModelProto): SsdSpec | null {
  const text = model.metadata_props.find((p) => p.key === SSD_SPEC_METADATA_KEY)?.value;
  return text === undefined ? null : parseSsdSpec(text);
}

function readTable(file: string): CalibrationTable {
  try {
    return parseTable(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    if (err instanceof TableError) throw new InputError(`${file}: ${err.message}`);
    throw new InputError(`cannot read calibration table '${file}': ${(err as Error).message}`);
  }
}

/** Median ms per image of raw onnxruntime on one preprocessed image (5 runs after 2 warm-ups). */
async function timeModel(model: string, spec: SsdSpec, data: Float32Array): Promise<number> {
  const session = await ort.InferenceSession.create(model, { intraOpNumThreads: 1, interOpNumThreads: 1 });
  try {
    const feeds = { [spec.input.name]: new ort.Tensor('float32', data, [1, 3, spec.input.height, spec.input.width]) };
    const times: number[] = [];
    for (let i = 0; i < 7; i++) {
      const t0 = performance.now();
      await session.run(feeds);
      if (i >= 2) times.push(performance.now() - t0);
    }
    return times.sort((a, b) => a - b)[Math.floor(times.length / 2)];
  } finally {
    await session.release();
  }
}

/** Quantizes `input` into `output`; see QuantizeOptions. Throws AgreementError (nothing written) below the threshold. */
export async function quantize(input: string, output: string, options: QuantizeOptions): Promise<QuantizeResult> {
  const started = performance.now();
  if (isSameFile(input, output)) throw new InputError(`output '${output}' is the input file; refusing to overwrite it`);
  const { bytes, model } = readModel(input);
  const spec = specOf(model);
  const minAgreement = options.minAgreement ?? 1;
  const criteria = options.criteria ?? DEFAULT_CRITERIA;
  const calibrationImages = options.fromTable === undefined ? readImages(options.calibration ?? [], 'calibration images') : [];
  const evaluationImages = options.evaluation?.length ? readImages(options.evaluation, 'evaluation images') : [];
  if ((calibrationImages.length > 0 || evaluationImages.length > 0) && !spec) throw new InputError(`input '${input}' carries no ${SSD_SPEC_METADATA_KEY} metadata: calibration and evaluation need its preprocessing`);
  const overlap = evaluationImages.filter((e) => calibrationImages.some((c) => c.sha256 === e.sha256));
  if (overlap.length > 0) throw new InputError(`evaluation images must differ from the calibration images: ${overlap.map((i) => i.file).join(', ')} in both`);
  const table = options.fromTable === undefined ? await calibrate(model, bytes, spec!.input, calibrationImages, { method: options.method ?? 'percentile', percentile: options.percentile, note: options.note }) : readTable(options.fromTable);
  if (options.fromTable === undefined && evaluationImages.length > 0) table.evaluation = evaluationImages.map((i) => ({ file: i.file, sha256: i.sha256 }));
  const { bytes: int8, summary } = quantizeFromTable(bytes, table, options.keepFp32);
  const staging = fs.mkdtempSync(path.join(os.tmpdir(), 'edge-ssd-quantize-'));
  try {
    const staged = path.join(staging, 'int8.onnx');
    fs.writeFileSync(staged, int8);
    const agreements: ImageSetAgreement[] = [];
    const sets: Array<[ImageSetAgreement['set'], NamedImage[]]> = [
      ['calibration', calibrationImages],
      ['evaluation', evaluationImages],
    ];
    for (const [set, images] of sets) if (images.length > 0) agreements.push({ set, agreement: await measureAgreement(input, staged, images, criteria) });
    const timed = calibrationImages[0] ?? evaluationImages[0];
    const speed = options.timing !== false && spec && timed ? await measureSpeed(input, staged, spec, timed) : undefined;
    const result: QuantizeResult = {
      input,
      output,
      spec,
      table,
      tableSource: options.fromTable ?? 'measured',
      summary,
      minAgreement,
      agreements,
      ...(speed ? { speed } : {}),
      bytes: { fp32: bytes.byteLength, int8: int8.byteLength },
      sha256: sha256(int8),
      ops: inspectDecodedModel(decodeModel(int8)).opCounts,
      seconds: (performance.now() - started) / 1000,
    };
    const below = agreements.filter((a) => a.agreement.ratio < minAgreement);
    if (below.length > 0) {
      throw new AgreementError(`INT8 agrees with fp32 below the threshold ${minAgreement} on ${below.map((b) => `the ${b.set} images (${b.agreement.ratio.toFixed(3)})`).join(' and ')}; nothing written`, result);
    }
    write(output, int8);
    if (options.tableOutput !== undefined && options.fromTable === undefined) write(options.tableOutput, serializeTable(table));
    return result;
  } finally {
    fs.rmSync(staging, { recursive: true, force: true });
  }
}

async function measureSpeed(fp32: string, int8: string, spec: SsdSpec, image: NamedImage): Promise<QuantizeResult['speed']> {
  const data = await preprocessNamed(image, spec.input);
  return { fp32Ms: await timeModel(fp32, spec, data), int8Ms: await timeModel(int8, spec, data), image: image.file };
}

function write(file: string, data: Uint8Array | string): void {
  try {
    writeFileAtomic(file, data);
  } catch (err) {
    throw new OutputError(`cannot write output '${file}': ${(err as Error).message}`);
  }
}
