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
import { isSameFile, writeFileAtomic } from '../fs-util';
import { CaffeVerificationError, ConvertCaffeResult, convertCaffe, formatCaffeSummary, readLabelsFile } from './convert';
import { CaffeImportError } from './errors';

export const CAFFE_CONVERT_USAGE =
  '  bn-fuse convert --prototxt deploy.prototxt --caffemodel weights.caffemodel --output out.onnx [--labels labels.txt] [--unfused-output u.onnx] [--report report.json] [--no-verify] [--rtol x] [--atol y]';

const VALUES = ['prototxt', 'caffemodel', 'output', 'labels', 'unfused-output', 'report', 'rtol', 'atol'];
const FLAGS = ['verify'];

class UsageError extends Error {}
class OutputWriteError extends Error {}

/** True when `convert` arguments ask for a Caffe import. */
export function isCaffeConvert(argv: readonly string[]): boolean {
  return argv[0] === 'convert' && argv.slice(1).some((a) => /^--(prototxt|caffemodel)(=|$)/.test(a));
}

export function parseCaffeConvertArgs(args: readonly string[]): Record<string, string | boolean> {
  const options: Record<string, string | boolean> = {};
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (!arg.startsWith('--')) throw new UsageError(`unexpected argument '${arg}'`);
    const eq = arg.indexOf('=');
    let key = eq >= 0 ? arg.slice(2, eq) : arg.slice(2);
    let value: string | undefined = eq >= 0 ? arg.slice(eq + 1) : undefined;
    if (key.startsWith('no-') && value === undefined && FLAGS.includes(key.slice(3))) {
      key = key.slice(3);
      value = 'false';
    }
    if (FLAGS.includes(key)) {
      if (value !== undefined && value !== 'true' && value !== 'false') throw new UsageError(`--${key} takes true or false, got '${value}'`);
      options[key] = value !== 'false';
    } else if (VALUES.includes(key)) {
      if (value === undefined) {
        value = args[++i];
        if (value === undefined) throw new UsageError(`--${key} needs a value`);
      }
      options[key] = value;
    } else {
      throw new UsageError(`unknown option --${key} for 'convert --prototxt'`);
    }
  }
  for (const key of ['prototxt', 'caffemodel', 'output']) if (typeof options[key] !== 'string' || options[key] === '') throw new UsageError(`--${key} is required`);
  return options;
}

function tolerance(options: Record<string, string | boolean>, key: string): number | undefined {
  const v = options[key];
  if (v === undefined) return undefined;
  const n = Number(v);
  if (typeof v !== 'string' || v.trim() === '' || !Number.isFinite(n) || n < 0) throw new UsageError(`--${key} must be a non-negative number, got '${v}'`);
  return n;
}

function write(file: string, data: Uint8Array | string): void {
  try {
    writeFileAtomic(file, data);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new OutputWriteError(`cannot write output '${file}': ${code === 'ENOENT' ? 'no such file or directory' : code === 'EACCES' || code === 'EPERM' ? 'permission denied' : (err as Error).message}`);
  }
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
      result = await convertCaffe(prototxt, caffemodel, { labels, verify: options.verify !== false, rtol: tolerance(options, 'rtol'), atol: tolerance(options, 'atol') });
    } catch (err) {
      if (err instanceof CaffeVerificationError) {
        console.log(formatCaffeSummary(err.result, output));
        if (typeof options.report === 'string') write(options.report, reportJson(err.result, output));
        console.error(`bn-fuse: ${err.message}`);
        return 1;
      }
      throw err;
    }
    if (unfusedOutput !== undefined) write(unfusedOutput, result.unfused);
    write(output, result.bytes);
    if (typeof options.report === 'string') write(options.report, reportJson(result, output));
    console.log(formatCaffeSummary(result, output));
    if (unfusedOutput !== undefined) console.log(`  unfused model: ${unfusedOutput} (${result.unfused.byteLength} bytes)`);
    return 0;
  } catch (err) {
    if (err instanceof UsageError) {
      console.error(`bn-fuse: ${err.message}\nusage:\n${CAFFE_CONVERT_USAGE}`);
      return 2;
    }
    if (err instanceof CaffeImportError) {
      console.error(`bn-fuse: ${err.message}`);
      return 2;
    }
    if (err instanceof OutputWriteError) {
      console.error(`bn-fuse: ${err.message}`);
      return 1;
    }
    console.error(`bn-fuse: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    return 1;
  }
}
