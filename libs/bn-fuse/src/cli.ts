#!/usr/bin/env node
// bn-fuse command line.
//
//   convert --input in.onnx --output out.onnx [--report report.json] [--no-verify] [--rtol x] [--atol y]
//           [--shared-weights clone|leave] [--initializer-inputs leave|fold]
//   write-mobilenet-ssd --output x.onnx [--seed n]
//   inspect --input x.onnx
//
// Exit codes: 0 done; 1 verification failed (nothing written) or an unexpected error; 2 bad usage
// or unusable input (one line on stderr). Options are accepted as `--key value` and `--key=value`;
// `--verify=false` is accepted too because `nx run ... --no-verify` forwards it in that form.
//
// Test hook: with BN_FUSE_TEST_HOOK=corrupt-fold in the environment, `convert` corrupts the first
// fused weight before verifying (the CLI tests use it to check that a bad fold exits 1 and writes
// nothing). It has no other effect and is not meant for users.
import { InputError, OutputError, VerificationFailedError, convertFile, corruptFoldForTesting, formatSummary, reportJson } from './convert';
import { numberOption, parseOptions, UsageError, type OptionSpec, type Options } from './cli-options';
import { writeFileAtomic } from './fs-util';
import { inspectModel } from './inspect';
import { writeMobileNetSsd } from './mobilenet-ssd';
import { TFJS_CONVERT_USAGE, isTfjsConvert, runTfjsConvert } from './tfjs/cli';
import { CAFFE_CONVERT_USAGE, isCaffeConvert, runCaffeConvert } from './caffe/cli';
import { FileRefusal, readRegularFile } from './safe-open';

/** Protobuf's limit on a message, so on an ONNX model file. */
const MAX_PROTOBUF_BYTES = 2 * 1024 * 1024 * 1024 - 1;

const USAGE = `usage:
  bn-fuse convert --input in.onnx --output out.onnx [--report report.json] [--no-verify] [--rtol x] [--atol y]
                  [--shared-weights clone|leave] [--initializer-inputs leave|fold]
  bn-fuse write-mobilenet-ssd --output x.onnx [--seed n]
  bn-fuse inspect --input x.onnx
${TFJS_CONVERT_USAGE}
${CAFFE_CONVERT_USAGE}`;

const COMMANDS: Record<string, OptionSpec> = {
  convert: { values: ['input', 'output', 'report', 'rtol', 'atol', 'shared-weights', 'initializer-inputs'], flags: ['verify'], required: ['input', 'output'] },
  'write-mobilenet-ssd': { values: ['output', 'seed'], flags: [], required: ['output'] },
  inspect: { values: ['input'], flags: [], required: ['input'] },
};

export function parseArgs(argv: readonly string[]): { command: string; options: Options } {
  const [command, ...rest] = argv;
  if (!command || command === '--help' || command === '-h') throw new UsageError('no command given');
  const spec = COMMANDS[command];
  if (!spec) throw new UsageError(`unknown command '${command}'`);
  return { command, options: parseOptions(rest, spec, command) };
}

function choiceOption<T extends string>(options: Options, key: string, choices: readonly T[]): T | undefined {
  const v = options[key];
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || !(choices as readonly string[]).includes(v)) throw new UsageError(`--${key} must be one of ${choices.join(', ')}, got '${v}'`);
  return v as T;
}

async function run(argv: readonly string[]): Promise<number> {
  const { command, options } = parseArgs(argv);
  if (command === 'write-mobilenet-ssd') {
    const seedValue = numberOption(options, 'seed');
    if (seedValue !== undefined && !Number.isInteger(seedValue)) throw new UsageError('--seed must be an integer');
    const started = performance.now();
    const bytes = writeMobileNetSsd(seedValue === undefined ? {} : { seed: seedValue });
    writeFileAtomic(options.output as string, bytes);
    const info = inspectModel(bytes);
    console.log(`bn-fuse write-mobilenet-ssd: ${options.output} (${bytes.byteLength} bytes, ${info.nodeCount} nodes, ${info.batchNormCount} BatchNormalization, ${((performance.now() - started) / 1000).toFixed(2)} s)`);
    return 0;
  }
  if (command === 'inspect') {
    let bytes: Uint8Array;
    try {
      // A protobuf message is at most 2 GiB; a FIFO or device is refused rather than read forever.
      bytes = readRegularFile(options.input as string, MAX_PROTOBUF_BYTES);
    } catch (err) {
      if (err instanceof FileRefusal) throw new InputError(`cannot read input '${options.input}': ${err.reason}`);
      throw err;
    }
    try {
      console.log(JSON.stringify(inspectModel(bytes), null, 2));
    } catch (err) {
      throw new InputError(`input '${options.input}' is not a usable ONNX model: ${(err as Error).message}`);
    }
    return 0;
  }
  const result = await convertFile(options.input as string, options.output as string, {
    verify: options.verify !== false,
    rtol: numberOption(options, 'rtol'),
    atol: numberOption(options, 'atol'),
    sharedWeights: choiceOption(options, 'shared-weights', ['clone', 'leave'] as const),
    initializerInputs: choiceOption(options, 'initializer-inputs', ['leave', 'fold'] as const),
    ...(process.env.BN_FUSE_TEST_HOOK === 'corrupt-fold' ? { afterFold: corruptFoldForTesting } : {}),
  });
  if (typeof options.report === 'string') writeFileAtomic(options.report, reportJson(result));
  console.log(formatSummary(result));
  return 0;
}

export async function main(argv: readonly string[]): Promise<number> {
  // `convert --tfjs-manifest ...` imports tfjs weights (face-api's SSD); see src/tfjs/cli.ts.
  if (isTfjsConvert(argv)) return runTfjsConvert(argv.slice(1));
  // `convert --prototxt ... --caffemodel ...` imports a Caffe net; see src/caffe/cli.ts.
  if (isCaffeConvert(argv)) return runCaffeConvert(argv.slice(1));
  try {
    return await run(argv);
  } catch (err) {
    if (err instanceof UsageError) {
      console.error(`bn-fuse: ${err.message}\n${USAGE}`);
      return 2;
    }
    if (err instanceof InputError) {
      console.error(`bn-fuse: ${err.message}`);
      return 2;
    }
    if (err instanceof OutputError) {
      console.error(`bn-fuse: ${err.message}`);
      return 1;
    }
    if (err instanceof VerificationFailedError) {
      console.log(formatSummary(err.result));
      console.error(`bn-fuse: ${err.message}`);
      return 1;
    }
    // System errors (an output directory that does not exist, no permission) get one line; anything
    // else is a bug and gets its stack.
    const systemError = err instanceof Error && typeof (err as NodeJS.ErrnoException).code === 'string';
    console.error(`bn-fuse: ${err instanceof Error ? (systemError ? err.message : (err.stack ?? err.message)) : String(err)}`);
    return 1;
  }
}

if (require.main === module) {
  // Exit explicitly: onnxruntime's threads can keep the event loop alive after the work is done.
  main(process.argv.slice(2)).then((code) => process.exit(code));
}
