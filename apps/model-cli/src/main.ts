#!/usr/bin/env node
// The model command line.
//
//   model prepare <name> [--dir models]   make a built-in model (nothing is downloaded), check its sha256
//   model list                             the built-in models
//
// Exit codes: 0 done; 1 the model could not be made; 2 bad usage (one line on stderr).
import { parseArgs } from 'node:util';
import { ModelMismatchError, prepareBuiltinModel } from './prepare';
import { BUILTIN_MODELS, findBuiltinModel } from './zoo';

const USAGE = `usage:
  model prepare <name> [--dir models]   make a built-in model into the directory and check its sha256
  model list                             list the built-in models
built-in models: ${BUILTIN_MODELS.map((m) => m.name).join(', ')}`;

class UsageError extends Error {}

function parse(argv: string[]) {
  try {
    return parseArgs({ args: argv, allowPositionals: true, strict: true, options: { dir: { type: 'string', default: 'models' }, help: { type: 'boolean', short: 'h' } } });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv);
  const [command, ...rest] = positionals;
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  if (command === 'list' && rest.length === 0) {
    for (const m of BUILTIN_MODELS) console.log(`${m.name}\n  ${m.description}\n  sha256 ${m.sha256}`);
    return 0;
  }
  if (command === 'prepare' && rest.length === 1) {
    const model = findBuiltinModel(rest[0]!);
    if (!model) throw new UsageError(`unknown model '${rest[0]}'`);
    const started = performance.now();
    const prepared = await prepareBuiltinModel(model, values.dir!);
    const seconds = ((performance.now() - started) / 1000).toFixed(1);
    console.log(`model prepare: ${model.name} -> ${prepared.path} (${prepared.action}${prepared.action === 'present' ? '' : ` in ${seconds} s`}; sha256 ${prepared.sha256})`);
    return 0;
  }
  throw new UsageError(command === undefined ? 'no command given' : `cannot parse '${argv.join(' ')}'`);
}

export async function main(argv: string[]): Promise<number> {
  try {
    return await run(argv);
  } catch (error) {
    if (error instanceof UsageError) {
      console.error(`model: ${error.message}\n${USAGE}`);
      return 2;
    }
    const known = error instanceof ModelMismatchError || (error instanceof Error && typeof (error as NodeJS.ErrnoException).code === 'string');
    console.error(`model: ${error instanceof Error ? (known ? error.message : (error.stack ?? error.message)) : String(error)}`);
    return 1;
  }
}

if (require.main === module) {
  // Exit explicitly: onnxruntime's threads (used to verify the fold) can keep the loop alive.
  void main(process.argv.slice(2)).then((code) => process.exit(code));
}
