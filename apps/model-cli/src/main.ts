#!/usr/bin/env node
// The `model` command line: convert and import models, make the built-in ones, inspect files.
//
// Exit codes: 0 done; 1 verification failed or INT8 agreement below its threshold (nothing
// written), an output that cannot be written, a built-in model whose bytes differ from the pin, or
// a bug (with its stack); 2 bad usage or unusable input (one line on stderr).
import { OutputError, VerificationFailedError } from '@edge-ssd/convert';
import { InputError } from '@edge-ssd/importers';
import { ModelMismatchError } from '@edge-ssd/model-zoo';
import { AgreementError } from '@edge-ssd/quantize';
import { ANATOMY_USAGE, runAnatomy } from './anatomy-commands';
import { UsageError } from './args';
import { CONVERT_USAGE, runConvert } from './convert-commands';
import { MODEL_USAGE, runInspect, runList, runPrepare, runWriteMobileNetSsd } from './model-commands';
import { QUANTIZE_USAGE, runQuantize } from './quantize-commands';

const USAGE = `usage:\n${CONVERT_USAGE}\n${QUANTIZE_USAGE}\n${MODEL_USAGE}\n${ANATOMY_USAGE}`;

const COMMANDS: Readonly<Record<string, (args: readonly string[]) => number | Promise<number>>> = {
  convert: (args) => runConvert(args),
  'import-caffe': (args) => runConvert(args, 'caffe'),
  'import-tfjs': (args) => runConvert(args, 'tfjs'),
  quantize: runQuantize,
  prepare: runPrepare,
  list: runList,
  'write-mobilenet-ssd': runWriteMobileNetSsd,
  inspect: runInspect,
  anatomy: runAnatomy,
};

/** Known failures get one line; system errors (ENOENT, EACCES) too; anything else is a bug. */
function failureLine(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const known = err instanceof InputError || err instanceof OutputError || err instanceof VerificationFailedError || err instanceof ModelMismatchError || err instanceof AgreementError;
  return known || typeof (err as NodeJS.ErrnoException).code === 'string' ? err.message : (err.stack ?? err.message);
}

export async function main(argv: readonly string[]): Promise<number> {
  const [command, ...args] = argv;
  if (command === undefined || command === '--help' || command === '-h' || command === 'help' || args.includes('--help') || args.includes('-h')) {
    console[command === undefined ? 'error' : 'log'](USAGE);
    return command === undefined ? 2 : 0;
  }
  try {
    const run = COMMANDS[command];
    if (!run) throw new UsageError(`unknown command '${command}'`);
    return await run(args);
  } catch (err) {
    if (err instanceof UsageError) {
      console.error(`model: ${err.message}\n${USAGE}`);
      return 2;
    }
    console.error(`model: ${failureLine(err)}`);
    return err instanceof InputError ? 2 : 1;
  }
}

if (require.main === module) {
  // Exit explicitly: onnxruntime's threads (used to verify the fold) can keep the loop alive.
  void main(process.argv.slice(2)).then((code) => process.exit(code));
}
