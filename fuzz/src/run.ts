// `npm run fuzz [-- --fuzzTime 60] [--target name]... [--verbose] [--fresh]`: builds, then fuzzes
// every target (targets/) with jsfuzz for a fixed time each, prints per target the runs and
// findings, and exits 1 when anything was found. Crash inputs go to fuzz/findings/<target>/
// (git-ignored); reproduce one with `node fuzz/dist/run.js --replay <target> <file>...`.
//
// Options: --fuzzTime S (per target, default 60), --target NAME (repeatable or comma-separated;
// default all), --budget MS (per input, default 2000), --hangTimeout S (default 10), --fresh (start
// from the seed corpus alone), --verbose (jsfuzz's own output), --workDir, --findingsDir.
import { inspect } from 'node:util';
import { replayFiles } from './replay';
import { DEFAULT_OPTIONS, FuzzOptions, clean, formatResult, fuzzTarget } from './runner';
import { targetNames } from './targets';

class UsageError extends Error {}

function parse(argv: readonly string[]): { options: FuzzOptions; targets: string[]; replay?: string[] } {
  const options: FuzzOptions = { ...DEFAULT_OPTIONS };
  const targets: string[] = [];
  const positive = (key: string, v: string | undefined): number => {
    const n = Number(v);
    if (v === undefined || !Number.isFinite(n) || n <= 0) throw new UsageError(`--${key} needs a positive number, got '${v ?? ''}'`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i].includes('=') ? [argv[i].slice(0, argv[i].indexOf('=')), argv[i].slice(argv[i].indexOf('=') + 1)] : [argv[i], undefined];
    const value = () => inline ?? argv[++i];
    switch (flag) {
      case '--fuzzTime':
        options.fuzzTimeS = positive('fuzzTime', value());
        break;
      case '--budget':
        options.inputBudgetMs = positive('budget', value());
        break;
      case '--hangTimeout':
        options.hangTimeoutS = positive('hangTimeout', value());
        break;
      case '--target':
        targets.push(...(value() ?? '').split(',').filter(Boolean));
        break;
      case '--workDir':
        options.workDir = value() ?? '';
        break;
      case '--findingsDir':
        options.findingsDir = value() ?? '';
        break;
      case '--fresh':
        options.fresh = true;
        break;
      case '--verbose':
        options.verbose = true;
        break;
      case '--replay':
        return { options, targets, replay: argv.slice(i + 1) };
      default:
        throw new UsageError(`unknown argument '${argv[i]}'`);
    }
  }
  const known = targetNames();
  for (const t of targets) if (!known.includes(t)) throw new UsageError(`unknown target '${t}' (targets: ${known.join(', ')})`);
  return { options, targets: targets.length > 0 ? targets : known };
}

async function main(argv: readonly string[]): Promise<number> {
  const { options, targets, replay } = parse(argv);
  if (replay) {
    const [target, ...files] = replay;
    if (!target || files.length === 0) throw new UsageError('--replay needs a target and files');
    const failures = replayFiles(target, files);
    for (const f of failures) console.log(`${f.file}: ${inspect(f.error)}`);
    console.log(`${target}: ${files.length - failures.length} of ${files.length} inputs pass`);
    return failures.length === 0 ? 0 : 1;
  }
  console.log(`fuzzing ${targets.length} targets for ${options.fuzzTimeS} s each with jsfuzz (per input: ${options.inputBudgetMs} ms budget, hang after ${options.hangTimeoutS} s)`);
  let ok = true;
  for (const name of targets) {
    const result = await fuzzTarget(name, options);
    console.log(formatResult(result));
    if (!clean(result)) ok = false;
  }
  console.log(ok ? 'no findings' : `findings: see ${options.findingsDir}`);
  return ok ? 0 : 1;
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: unknown) => {
      console.error(`fuzz: ${err instanceof UsageError ? err.message : inspect(err)}`);
      process.exit(2);
    },
  );
}
