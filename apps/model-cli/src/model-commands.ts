// The commands about models rather than conversions: `prepare` and `list` (the built-in models),
// `write-mobilenet-ssd` (the seeded model before folding) and `inspect` (inputs, outputs and
// metadata without reading the weights).
import { InputError, writeMobileNetSsd } from '@edge-ssd/importers';
import { BUILTIN_MODELS, findBuiltinModel, prepareBuiltinModel } from '@edge-ssd/model-zoo';
import { FileRefusal, inspectModel, readRegularFile, writeFileAtomic } from '@edge-ssd/onnx-io';
import { UsageError, numberOption, parse, requiredOption } from './args';

/** Protobuf's limit on a message, so on an ONNX model file. */
const MAX_PROTOBUF_BYTES = 2 * 1024 * 1024 * 1024 - 1;

export const MODEL_USAGE = `  model prepare NAME [--dir models]      make a built-in model into the directory and check its sha256
  model list                              list the built-in models (${BUILTIN_MODELS.map((m) => m.name).join(', ')})
  model write-mobilenet-ssd --output x.onnx [--seed n]   the seeded MobileNet-SSD before folding
  model inspect --input x.onnx            inputs, outputs, metadata and op counts as JSON`;

export async function runPrepare(args: readonly string[]): Promise<number> {
  const p = parse(args, { dir: { type: 'string', default: 'models' } }, 1);
  const name = p.positionals[0];
  if (name === undefined) throw new UsageError('prepare needs a model name');
  const model = findBuiltinModel(name);
  if (!model) throw new UsageError(`unknown model '${name}'`);
  const started = performance.now();
  const prepared = await prepareBuiltinModel(model, p.values.dir as string);
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  console.log(`model prepare: ${model.name} -> ${prepared.path} (${prepared.action}${prepared.action === 'present' ? '' : ` in ${seconds} s`}; sha256 ${prepared.sha256})`);
  return 0;
}

export function runList(args: readonly string[]): number {
  parse(args, {});
  for (const m of BUILTIN_MODELS) console.log(`${m.name}\n  ${m.description}\n  sha256 ${m.sha256}`);
  return 0;
}

export function runWriteMobileNetSsd(args: readonly string[]): number {
  const p = parse(args, { output: { type: 'string' }, seed: { type: 'string' } });
  const output = requiredOption(p, 'output');
  const seed = numberOption(p, 'seed');
  if (seed !== undefined && !Number.isInteger(seed)) throw new UsageError('--seed must be an integer');
  const started = performance.now();
  const bytes = writeMobileNetSsd(seed === undefined ? {} : { seed });
  writeFileAtomic(output, bytes);
  const info = inspectModel(bytes);
  console.log(`model write-mobilenet-ssd: ${output} (${bytes.byteLength} bytes, ${info.nodeCount} nodes, ${info.batchNormCount} BatchNormalization, ${((performance.now() - started) / 1000).toFixed(2)} s)`);
  return 0;
}

export function runInspect(args: readonly string[]): number {
  const p = parse(args, { input: { type: 'string' } });
  const input = requiredOption(p, 'input');
  let bytes: Uint8Array;
  try {
    // A FIFO or device is refused rather than read forever.
    bytes = readRegularFile(input, MAX_PROTOBUF_BYTES);
  } catch (err) {
    if (err instanceof FileRefusal) throw new InputError(`cannot read input '${input}': ${err.reason}`);
    throw err;
  }
  try {
    console.log(JSON.stringify(inspectModel(bytes), null, 2));
  } catch (err) {
    throw new InputError(`input '${input}' is not a usable ONNX model: ${(err as Error).message}`);
  }
  return 0;
}
