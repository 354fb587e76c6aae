// `bn-fuse convert --prototxt deploy.prototxt --caffemodel x.caffemodel --output model.onnx`:
// imports a Caffe net, folds BatchNorm(+Scale) into the convolutions, verifies the folded model
// against the unfused one, and writes it atomically. The main CLI hands every `convert`
// invocation that names --prototxt or --caffemodel to runCaffeConvert.
//
//   convert --prototxt p --caffemodel w --output out.onnx [--labels labels.txt]
//           [--unfused-output u.onnx] [--report r.json] [--no-verify] [--rtol x] [--atol y]
//
// Exit codes as the main CLI: 0 done; 1 verification failed (nothing written), output not
// writable, or an unexpected error; 2 bad usage or unusable input (one line on stderr).
import * as path from 'node:path';
import { numberOption, parseOptions, reportFailure, UsageError, writeOutput, type Options } from '../cli-options';
import { isSameFile } from '../fs-util';
import { CaffeVerificationError, ConvertCaffeResult, convertCaffe, formatCaffeSummary, readLabelsFile } from './convert';
import { CaffeImportError } from './errors';

export const CAFFE_CONVERT_USAGE =
  '  bn-fuse convert --prototxt deploy.prototxt --caffemodel weights.caffemodel --output out.onnx [--labels labels.txt] [--unfused-output u.onnx] [--report report.json] [--no-verify] [--rtol x] [--atol y]';

const VALUES = ['prototxt', 'caffemodel', 'output', 'labels', 'unfused-output', 'report', 'rtol', 'atol'];
const FLAGS = ['verify'];


/** True when `convert` arguments ask for a Caffe import. */
export function isCaffeConvert(argv: readonly string[]): boolean {
  return argv[0] === 'convert' && argv.slice(1).some((a) => /^--(prototxt|caffemodel)(=|$)/.test(a));
}

export function parseCaffeConvertArgs(args: readonly string[]): Options {
  return parseOptions(args, { values: VALUES, flags: FLAGS, required: ['prototxt', 'caffemodel', 'output'] }, 'convert --prototxt');
}



function reportJson(r: ConvertCaffeResult, outputPath: string): string {
  // The model bytes themselves are not part of the report.
  const rest: Partial<ConvertCaffeResult> = { ...r };
  delete rest.bytes;
  delete rest.unfused;
  return `${JSON.stringify({ ...rest, outputPath }, null, 2)}\n`;
}

/** Runs `convert --prototxt ...` (args without the command); returns the exit code. */
export async function runCaffeConvert(args: readonly string[]): Promise<number> {
  try {
    const options = parseCaffeConvertArgs(args);
    const prototxt = options.prototxt as string;
    const caffemodel = options.caffemodel as string;
    const output = options.output as string;
    const unfusedOutput = typeof options['unfused-output'] === 'string' ? options['unfused-output'] : undefined;
    for (const out of [output, unfusedOutput]) {
      if (out === undefined) continue;
      for (const input of [prototxt, caffemodel]) if (isSameFile(input, out)) throw new CaffeImportError(`output '${out}' is the input file '${input}'; refusing to overwrite it`);
    }
    if (unfusedOutput !== undefined && path.resolve(unfusedOutput) === path.resolve(output)) throw new UsageError('--unfused-output must differ from --output');
    const labels = typeof options.labels === 'string' ? readLabelsFile(options.labels) : undefined;
    let result: ConvertCaffeResult;
    try {
      result = await convertCaffe(prototxt, caffemodel, { labels, verify: options.verify !== false, rtol: numberOption(options, 'rtol'), atol: numberOption(options, 'atol') });
    } catch (err) {
      if (err instanceof CaffeVerificationError) {
        console.log(formatCaffeSummary(err.result, output));
        if (typeof options.report === 'string') writeOutput(options.report, reportJson(err.result, output));
        console.error(`bn-fuse: ${err.message}`);
        return 1;
      }
      throw err;
    }
    if (unfusedOutput !== undefined) writeOutput(unfusedOutput, result.unfused);
    writeOutput(output, result.bytes);
    if (typeof options.report === 'string') writeOutput(options.report, reportJson(result, output));
    console.log(formatCaffeSummary(result, output));
    if (unfusedOutput !== undefined) console.log(`  unfused model: ${unfusedOutput} (${result.unfused.byteLength} bytes)`);
    return 0;
  } catch (err) {
    return reportFailure(err, CAFFE_CONVERT_USAGE, [CaffeImportError]);
  }
}
