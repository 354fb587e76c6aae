// Option parsing for every `model` subcommand: node:util parseArgs (strict, `--key value`,
// `--key=value`, `--flag` / `--no-flag`) plus typed readers for numbers and choices.
import { type ParseArgsConfig, parseArgs } from 'node:util';

/** Bad usage: one line and the command's usage on stderr, exit code 2. */
export class UsageError extends Error {}

export type OptionsSpec = NonNullable<ParseArgsConfig['options']>;

export interface Parsed {
  values: Record<string, string | boolean | undefined>;
  positionals: string[];
}

export function parse(args: readonly string[], options: OptionsSpec, maxPositionals = 0): Parsed {
  // `nx run ... --no-verify` forwards the flag as `--verify=false`.
  const normalised = args.map((a) => {
    const m = /^--([a-z-]+)=(true|false)$/.exec(a);
    return m && options[m[1]]?.type === 'boolean' ? (m[2] === 'true' ? `--${m[1]}` : `--no-${m[1]}`) : a;
  });
  let parsed;
  try {
    parsed = parseArgs({ args: normalised, options, strict: true, allowPositionals: true, allowNegative: true });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  if (parsed.positionals.length > maxPositionals) throw new UsageError(`unexpected argument '${parsed.positionals[maxPositionals]}'`);
  return { values: parsed.values as Parsed['values'], positionals: parsed.positionals };
}

export function stringOption(p: Parsed, key: string): string | undefined {
  const v = p.values[key];
  if (v === '') throw new UsageError(`--${key} needs a value`);
  return typeof v === 'string' ? v : undefined;
}

export function requiredOption(p: Parsed, key: string): string {
  const v = stringOption(p, key);
  if (v === undefined) throw new UsageError(`--${key} is required`);
  return v;
}

/** A non-negative number option, or undefined when absent. */
export function numberOption(p: Parsed, key: string): number | undefined {
  const v = stringOption(p, key);
  if (v === undefined) return undefined;
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n) || n < 0) throw new UsageError(`--${key} must be a non-negative number, got '${v}'`);
  return n;
}

export function choiceOption<T extends string>(p: Parsed, key: string, choices: readonly T[]): T | undefined {
  const v = stringOption(p, key);
  if (v === undefined) return undefined;
  if (!(choices as readonly string[]).includes(v)) throw new UsageError(`--${key} must be one of ${choices.join(', ')}, got '${v}'`);
  return v as T;
}
