// `model convert` and its explicit forms `import-caffe` / `import-tfjs`: pick the input (exactly
// one kind), run the one pipeline, print its report, write the JSON report when asked.
import { type ConversionInput, type ConvertResult, VerificationFailedError, convert, formatReport, importedInput, openOnnxFile, reportJson } from '@edge-ssd/convert';
import { InputError, importCaffeFiles, importFaceApi } from '@edge-ssd/importers';
import { isSameFile, writeFileAtomic } from '@edge-ssd/onnx-io';
import { type OptionsSpec, type Parsed, UsageError, choiceOption, numberOption, parse, requiredOption, stringOption } from './args';

const COMMON: OptionsSpec = {
  output: { type: 'string' },
  report: { type: 'string' },
  verify: { type: 'boolean' },
  rtol: { type: 'string' },
  atol: { type: 'string' },
};
const FOLD: OptionsSpec = { 'shared-weights': { type: 'string' }, 'initializer-inputs': { type: 'string' } };
const UNFUSED: OptionsSpec = { 'unfused-output': { type: 'string' } };
const CAFFE: OptionsSpec = { prototxt: { type: 'string' }, caffemodel: { type: 'string' }, labels: { type: 'string' }, mean: { type: 'string' }, scale: { type: 'string' }, 'channel-order': { type: 'string' } };

const COMMON_USAGE = '--output out.onnx [--report report.json] [--no-verify] [--rtol x] [--atol y]';
export const CONVERT_USAGE = [
  `  model convert --input in.onnx ${COMMON_USAGE} [--shared-weights clone|leave] [--initializer-inputs leave|fold]`,
  `  model convert --prototxt deploy.prototxt --caffemodel w.caffemodel [--labels labels.txt] [--mean 104,117,123] [--scale 1] [--channel-order BGR|RGB] [--unfused-output u.onnx] ${COMMON_USAGE}`,
  `  model convert --tfjs-manifest weights_manifest.json [--unfused-output u.onnx] ${COMMON_USAGE}`,
  '  model import-caffe ...   convert --prototxt ... (same options)',
  '  model import-tfjs ...    convert --tfjs-manifest ... (same options)',
].join('\n');

type InputKind = 'onnx' | 'caffe' | 'tfjs';

function inputKind(p: Parsed): InputKind {
  const given: InputKind[] = [];
  if (p.values.input !== undefined) given.push('onnx');
  if (['prototxt', 'caffemodel', 'labels', 'mean', 'scale', 'channel-order'].some((k) => p.values[k] !== undefined)) given.push('caffe');
  if (p.values['tfjs-manifest'] !== undefined) given.push('tfjs');
  if (given.length !== 1) throw new UsageError('give exactly one input: --input (ONNX), --prototxt with --caffemodel (Caffe), or --tfjs-manifest (tfjs)');
  return given[0]!;
}

function openInput(kind: InputKind, p: Parsed): ConversionInput {
  if (kind === 'onnx') {
    if (p.values['unfused-output'] !== undefined) throw new UsageError('--unfused-output is for imports: an ONNX input already is the unfused model');
    return openOnnxFile(requiredOption(p, 'input'));
  }
  if (p.values['shared-weights'] !== undefined || p.values['initializer-inputs'] !== undefined) throw new UsageError('--shared-weights and --initializer-inputs apply to ONNX inputs');
  if (kind === 'caffe') {
    const files = { prototxt: requiredOption(p, 'prototxt'), caffemodel: requiredOption(p, 'caffemodel'), labels: stringOption(p, 'labels') };
    return importedInput(importCaffeFiles(files, { preprocess: caffePreprocess(p) }));
  }
  return importedInput(importFaceApi(requiredOption(p, 'tfjs-manifest')));
}

/**
 * The preprocessing a Caffe SSD was trained with (a deploy prototxt does not carry it): what is
 * given of --mean (one value or three, in the model's channel order), --scale and --channel-order;
 * the importer fills the rest and says so.
 */
function caffePreprocess(p: Parsed): { mean?: [number, number, number]; scale?: number; channelOrder?: 'BGR' | 'RGB' } {
  const mean = stringOption(p, 'mean');
  const values = mean?.split(',').map((v) => Number(v.trim()));
  if (values && (![1, 3].includes(values.length) || values.some((v) => !Number.isFinite(v)))) throw new UsageError(`--mean must be one number or three, comma-separated, got '${mean}'`);
  const scale = stringOption(p, 'scale');
  const factor = scale === undefined ? undefined : Number(scale);
  if (factor !== undefined && !(Number.isFinite(factor) && factor > 0)) throw new UsageError(`--scale must be a positive number, got '${scale}'`);
  return {
    ...(values ? { mean: (values.length === 1 ? [values[0], values[0], values[0]] : values) as [number, number, number] } : {}),
    ...(factor === undefined ? {} : { scale: factor }),
    ...(p.values['channel-order'] === undefined ? {} : { channelOrder: choiceOption(p, 'channel-order', ['BGR', 'RGB'] as const) }),
  };
}

/** The JSON report must not replace an input file or the model just written. */
function refuseReportOverwrite(report: string, input: ConversionInput, outputs: readonly (string | undefined)[]): void {
  for (const file of input.provenance.files) if (isSameFile(file, report)) throw new InputError(`report '${report}' is the input file '${file}'; refusing to overwrite it`);
  if (outputs.some((out) => out !== undefined && isSameFile(out, report))) throw new InputError('--report must differ from --output and --unfused-output');
}

/** Runs a conversion command; `force` pins the input kind (import-caffe, import-tfjs). */
export async function runConvert(args: readonly string[], force?: 'caffe' | 'tfjs'): Promise<number> {
  const spec: OptionsSpec =
    force === 'caffe' ? { ...COMMON, ...UNFUSED, ...CAFFE } : force === 'tfjs' ? { ...COMMON, ...UNFUSED, 'tfjs-manifest': { type: 'string' }, manifest: { type: 'string' } } : { ...COMMON, ...FOLD, ...UNFUSED, ...CAFFE, input: { type: 'string' }, 'tfjs-manifest': { type: 'string' } };
  const p = parse(args, spec);
  if (force === 'tfjs' && p.values.manifest !== undefined) p.values['tfjs-manifest'] = p.values.manifest;
  const kind = force ?? inputKind(p);
  const output = requiredOption(p, 'output');
  const options = {
    verify: p.values.verify !== false,
    rtol: numberOption(p, 'rtol'),
    atol: numberOption(p, 'atol'),
    sharedWeights: choiceOption(p, 'shared-weights', ['clone', 'leave'] as const),
    initializerInputs: choiceOption(p, 'initializer-inputs', ['leave', 'fold'] as const),
    unfusedOutput: stringOption(p, 'unfused-output'),
  };
  const report = stringOption(p, 'report');
  const input = openInput(kind, p);
  if (report !== undefined) {
    try {
      refuseReportOverwrite(report, input, [output, options.unfusedOutput]);
    } catch (err) {
      input.close();
      throw err;
    }
  }
  let result: ConvertResult;
  try {
    result = await convert(input, output, options);
  } catch (err) {
    if (!(err instanceof VerificationFailedError)) throw err;
    console.log(formatReport(err.result));
    if (report !== undefined) writeFileAtomic(report, reportJson(err.result));
    throw err;
  }
  if (report !== undefined) writeFileAtomic(report, reportJson(result));
  console.log(formatReport(result));
  return 0;
}
