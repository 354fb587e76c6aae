// What every fuzz target shares: the jsfuzz entry point `fuzz(buf)` built from the code under test,
// the errors that code is documented to throw for bad input (caught: they are correct behaviour),
// and the limits whose breach is a finding like any other uncaught error:
// - a per-input time budget (an input that takes longer is a hang or a blow-up; a real infinite
//   loop never returns, so jsfuzz's own --timeout kills the worker and records it as a crash);
// - a cap on the growth of the process' peak RSS (an allocation far beyond what a 4 kB input can
//   justify).
//
// The runner (run.ts) configures a jsfuzz worker through the environment, the only channel jsfuzz
// leaves (it forks the worker with the target path alone): FUZZ_TIME_MS ends the worker cleanly
// that long after its first input, FUZZ_STATS_FILE receives the run count on exit.
import * as fs from 'node:fs';

/** The limits whose breach the harness reports. */
export interface HarnessLimits {
  /** Longest one input may take. */
  inputBudgetMs: number;
  /** Largest growth of the peak RSS over the fuzzing session. */
  maxRssGrowthMb: number;
}

const DEFAULT_LIMITS: HarnessLimits = { inputBudgetMs: 2000, maxRssGrowthMb: 512 };

/** A limit was exceeded: a finding raised by the harness itself. */
class LimitExceeded extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LimitExceeded';
  }
}

export type ErrorClass = abstract new (...args: never[]) => Error;

export interface TargetSpec {
  /** Error classes the code under test throws for bad input; anything else is a finding. */
  expected: readonly ErrorClass[];
  /** Runs the code under test on one input; throws (any error) to report a finding. */
  run(data: Buffer): void;
}

export interface FuzzTarget {
  /** The jsfuzz entry point. */
  fuzz(buf: Buffer): void;
  /** Whether `err` is one of the expected errors. */
  isExpected(err: unknown): boolean;
}

function numberFromEnv(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${name} must be a positive number, got '${raw}'`);
  return n;
}

/** The limits, from FUZZ_INPUT_BUDGET_MS and FUZZ_MAX_RSS_GROWTH_MB when set. */
function limitsFromEnv(): HarnessLimits {
  return {
    inputBudgetMs: numberFromEnv('FUZZ_INPUT_BUDGET_MS', DEFAULT_LIMITS.inputBudgetMs),
    maxRssGrowthMb: numberFromEnv('FUZZ_MAX_RSS_GROWTH_MB', DEFAULT_LIMITS.maxRssGrowthMb),
  };
}

/** Peak RSS of this process so far, in MB. */
function peakRssMb(): number {
  return process.resourceUsage().maxRSS / 1024;
}

/** Per-process session state: the run count and when to stop (runner sessions only). */
const session = {
  runs: 0,
  started: 0,
  baselineRssMb: 0,
  statsWritten: false,
};

function writeStats(): void {
  const file = process.env.FUZZ_STATS_FILE;
  if (!file || session.statsWritten) return;
  session.statsWritten = true;
  fs.writeFileSync(file, `${JSON.stringify({ runs: session.runs, ms: session.started ? Date.now() - session.started : 0 })}\n`);
}

if (process.env.FUZZ_STATS_FILE) process.on('exit', writeStats);

/**
 * Builds a jsfuzz target. Expected errors are swallowed; any other error, an input over the time
 * budget or a peak RSS grown beyond the cap is thrown, which jsfuzz records as a crash.
 */
export function defineTarget(spec: TargetSpec, limits: HarnessLimits = limitsFromEnv()): FuzzTarget {
  const timeMs = process.env.FUZZ_TIME_MS ? numberFromEnv('FUZZ_TIME_MS', 0) : undefined;
  const isExpected = (err: unknown) => spec.expected.some((type) => err instanceof type);
  return {
    isExpected,
    fuzz(buf: Buffer): void {
      const now = Date.now();
      if (session.started === 0) {
        // Measured from the first input: loading and instrumenting the modules does not count.
        session.started = now;
        session.baselineRssMb = peakRssMb();
      }
      if (timeMs !== undefined && now - session.started >= timeMs) {
        writeStats();
        process.exit(0);
      }
      session.runs++;
      try {
        spec.run(buf);
      } catch (err) {
        if (!isExpected(err)) throw err;
      }
      const elapsed = Date.now() - now;
      if (elapsed > limits.inputBudgetMs) throw new LimitExceeded(`one input took ${elapsed} ms, more than the ${limits.inputBudgetMs} ms budget`);
      const growth = peakRssMb() - session.baselineRssMb;
      if (growth > limits.maxRssGrowthMb) throw new LimitExceeded(`peak RSS grew by ${growth.toFixed(0)} MB, more than the ${limits.maxRssGrowthMb} MB allowed`);
    },
  };
}

/** Wraps a throwing step so that only errors of `types` count as expected (e.g. JSON.parse). */
export function expecting<T>(types: readonly ErrorClass[], step: () => T): { ok: true; value: T } | { ok: false } {
  try {
    return { ok: true, value: step() };
  } catch (err) {
    if (types.some((type) => err instanceof type)) return { ok: false };
    throw err;
  }
}
