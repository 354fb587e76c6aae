// The option syntax shared by every `bn-fuse` command line (plain ONNX, Caffe and tfjs imports):
// `--key value`, `--key=value`, boolean `--flag` / `--no-flag` / `--flag=false`.
import { writeFileAtomic } from './fs-util';

/** Bad usage: one line on stderr and exit code 2. */
export class UsageError extends Error {}

/** The output could not be written: one line on stderr and exit code 1. */
export class OutputWriteError extends Error {}

export type Options = Record<string, string | boolean>;

export interface OptionSpec {
  values: readonly string[];
  flags: readonly string[];
  required: readonly string[];
}

/** Parses `args` against `spec`; `what` names the command in error messages. */
export function parseOptions(args: readonly string[], spec: OptionSpec, what: string): Options {
  const options: Options = {};
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (!arg.startsWith('--')) throw new UsageError(`unexpected argument '${arg}'`);
    const eq = arg.indexOf('=');
    let key = eq >= 0 ? arg.slice(2, eq) : arg.slice(2);
    let value: string | undefined = eq >= 0 ? arg.slice(eq + 1) : undefined;
    if (key.startsWith('no-') && value === undefined && spec.flags.includes(key.slice(3))) {
      key = key.slice(3);
      value = 'false';
    }
    if (spec.flags.includes(key)) {
      if (value !== undefined && value !== 'true' && value !== 'false') throw new UsageError(`--${key} takes true or false, got '${value}'`);
      options[key] = value !== 'false';
    } else if (spec.values.includes(key)) {
      if (value === undefined) {
        value = args[++i];
        if (value === undefined) throw new UsageError(`--${key} needs a value`);
      }
      options[key] = value;
    } else {
      throw new UsageError(`unknown option --${key} for '${what}'`);
    }
  }
  for (const key of spec.required) if (typeof options[key] !== 'string' || options[key] === '') throw new UsageError(`--${key} is required`);
  return options;
}

/** A non-negative number option, or undefined when absent. */
export function numberOption(options: Options, key: string): number | undefined {
  const v = options[key];
  if (v === undefined) return undefined;
  const n = Number(v);
  if (typeof v !== 'string' || v.trim() === '' || !Number.isFinite(n) || n < 0) throw new UsageError(`--${key} must be a non-negative number, got '${v}'`);
  return n;
}

/** Writes an output file atomically, turning the system's error into one readable line. */
export function writeOutput(file: string, data: Uint8Array | string): void {
  try {
    writeFileAtomic(file, data);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new OutputWriteError(`cannot write output '${file}': ${code === 'ENOENT' ? 'no such file or directory' : code === 'EACCES' || code === 'EPERM' ? 'permission denied' : (err as Error).message}`);
  }
}

/**
 * Reports a failed command on stderr and returns its exit code: 2 for bad usage (with `usage`)
 * and for unusable input (`inputErrors`), 1 for an unwritable output or anything unexpected.
 */
export function reportFailure(err: unknown, usage: string, inputErrors: ReadonlyArray<new (...args: never[]) => Error>): number {
  if (err instanceof UsageError) {
    console.error(`bn-fuse: ${err.message}\nusage:\n${usage}`);
    return 2;
  }
  if (inputErrors.some((type) => err instanceof type)) {
    console.error(`bn-fuse: ${(err as Error).message}`);
    return 2;
  }
  if (err instanceof OutputWriteError) {
    console.error(`bn-fuse: ${err.message}`);
    return 1;
  }
  console.error(`bn-fuse: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  return 1;
}
