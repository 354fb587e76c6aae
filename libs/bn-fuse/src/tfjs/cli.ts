// `bn-fuse convert --tfjs-manifest <manifest.json> --output out.onnx`: imports the face-api
// SSD-MobileNetV1 tfjs weights, folds and verifies, writes atomically. The main CLI hands every
// `convert` invocation that names --tfjs-manifest to runTfjsConvert.
//
//   convert --tfjs-manifest m.json --output out.onnx [--unfused-output u.onnx] [--report r.json]
//           [--no-verify] [--rtol x] [--atol y]
//
// Exit codes as the main CLI: 0 done; 1 verification failed (nothing written), output not
// writable, or an unexpected error; 2 bad usage or unusable input.
import * as path from 'node:path';
import { numberOption, parseOptions, reportFailure, UsageError, writeOutput, type Options } from '../cli-options';
import { isSameFile } from '../fs-util';
import { FaceApiImportResult, FaceApiImportSummary, FaceImportVerificationError, formatFaceImportSummary, importFaceApiSsd, summariseFaceImport } from './import';
import { TfjsImportError } from './weights';

export const TFJS_CONVERT_USAGE =
  '  bn-fuse convert --tfjs-manifest model-weights_manifest.json --output out.onnx [--unfused-output u.onnx] [--report report.json] [--no-verify] [--rtol x] [--atol y]';

const VALUES = ['tfjs-manifest', 'output', 'unfused-output', 'report', 'rtol', 'atol'];
const FLAGS = ['verify'];


/** True when `convert` arguments ask for a tfjs import. */
export function isTfjsConvert(argv: readonly string[]): boolean {
  return argv[0] === 'convert' && argv.slice(1).some((a) => a === '--tfjs-manifest' || a.startsWith('--tfjs-manifest='));
}

export function parseTfjsConvertArgs(args: readonly string[]): Options {
  return parseOptions(args, { values: VALUES, flags: FLAGS, required: ['tfjs-manifest', 'output'] }, 'convert --tfjs-manifest');
}


function reportJson(r: FaceApiImportSummary, outputPath: string): string {
  return `${JSON.stringify({ ...r, outputPath }, null, 2)}\n`;
}



/** Runs `convert --tfjs-manifest ...` (args without the command); returns the exit code. */
export async function runTfjsConvert(args: readonly string[]): Promise<number> {
  try {
    const options = parseTfjsConvertArgs(args);
    const manifest = options['tfjs-manifest'] as string;
    const output = options.output as string;
    const unfusedOutput = typeof options['unfused-output'] === 'string' ? options['unfused-output'] : undefined;
    for (const out of [output, unfusedOutput]) {
      if (out !== undefined && isSameFile(manifest, out)) throw new TfjsImportError(`output '${out}' is the manifest; refusing to overwrite it`);
    }
    if (unfusedOutput !== undefined && path.resolve(unfusedOutput) === path.resolve(output)) throw new UsageError('--unfused-output must differ from --output');
    let result: FaceApiImportResult;
    try {
      result = await importFaceApiSsd(manifest, { verify: options.verify !== false, rtol: numberOption(options, 'rtol'), atol: numberOption(options, 'atol') });
    } catch (err) {
      if (err instanceof FaceImportVerificationError) {
        console.log(formatFaceImportSummary(err.result, output));
        if (typeof options.report === 'string') writeOutput(options.report, reportJson(err.result, output));
        console.error(`bn-fuse: ${err.message}`);
        return 1;
      }
      throw err;
    }
    writeOutput(output, result.bytes);
    if (unfusedOutput !== undefined) writeOutput(unfusedOutput, result.unfused);
    if (typeof options.report === 'string') writeOutput(options.report, reportJson(summariseFaceImport(result), output));
    console.log(formatFaceImportSummary(result, output));
    if (unfusedOutput !== undefined) console.log(`  unfused model: ${unfusedOutput} (${result.unfused.byteLength} bytes)`);
    return 0;
  } catch (err) {
    return reportFailure(err, TFJS_CONVERT_USAGE, [TfjsImportError]);
  }
}
