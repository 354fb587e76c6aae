// `model anatomy`: what sets an SSD model apart, read from its graph (see @edge-ssd/anatomy).
import { AnatomyError, anatomyJson, formatAnatomy, modelAnatomy } from '@edge-ssd/anatomy';
import { InputError } from '@edge-ssd/importers';
import { FileRefusal, OnnxDecodeError, decodeModel, readRegularFile } from '@edge-ssd/onnx-io';
import { UsageError, numberOption, parse } from './args';

/** protobuf's own message limit: a larger file is not an ONNX model. */
const MAX_MODEL_BYTES = 2 * 1024 * 1024 * 1024 - 1;

export const ANATOMY_USAGE =
  '  model anatomy x.onnx [--k 4] [--at 512] [--json]   per head: map, channels, kernel, priors, sizes, step, smallest object (k x k cells); cost of base, extra layers, heads (and its factor at another input size)';

export function runAnatomy(args: readonly string[]): number {
  const p = parse(args, { k: { type: 'string' }, at: { type: 'string' }, json: { type: 'boolean' } }, 1);
  const file = p.positionals[0];
  if (file === undefined) throw new UsageError('anatomy needs a model file');
  const k = numberOption(p, 'k');
  const at = numberOption(p, 'at');
  if (k !== undefined && k <= 0) throw new UsageError(`--k must be > 0, got ${k}`);
  if (at !== undefined && (!Number.isInteger(at) || at < 1)) throw new UsageError(`--at must be a positive integer, got ${at}`);
  let bytes: Uint8Array;
  try {
    bytes = readRegularFile(file, MAX_MODEL_BYTES);
  } catch (err) {
    if (err instanceof FileRefusal) throw new InputError(`cannot read model '${file}': ${err.reason}`);
    throw err;
  }
  try {
    const anatomy = modelAnatomy(decodeModel(bytes), { k, at });
    process.stdout.write(p.values.json ? anatomyJson(anatomy) : `${formatAnatomy(anatomy)}\n`);
  } catch (err) {
    if (err instanceof AnatomyError || err instanceof OnnxDecodeError) throw new InputError(`model '${file}': ${err.message}`);
    throw err;
  }
  return 0;
}
