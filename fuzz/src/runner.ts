// Runs jsfuzz on one target for a fixed time and reports what happened.
//
// jsfuzz 1.0.15 has no time limit of its own and no summary: it forks a worker that instruments
// every module the target loads, feeds it mutated inputs until a crash, and prints `#N ...` lines
// every 3 s. So the harness ends the worker cleanly FUZZ_TIME_MS after its first input and writes
// its exact run count to FUZZ_STATS_FILE; the runner reads that, jsfuzz's last coverage line, and
// the crash file jsfuzz writes (--exact-artifact-path) when the target throws, hangs past
// --timeout or exceeds --rss-limit-mb. jsfuzz resolves the target against its working directory
// and writes scratch files (.nyc_output) there, and it adds every input that finds new coverage to
// its first corpus directory: both are under the git-ignored work directory, so the committed seed
// corpus (read from the second corpus directory) is never written to. Its "versifier" is off: it
// makes every 10th input from a grammar guessed from the corpus, without the 4096-byte cap of the
// mutator, and here it produced inputs of 84 MB and exhausted the 4 GB heap of jsfuzz's own process
// on binary seeds (false hangs and crashes of the fuzzer, not of the targets).
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { corpusFiles, CORPUS_DIR } from './targets';

/** jsfuzz's command line script. */
const JSFUZZ_BIN = path.join(path.dirname(require.resolve('jsfuzz/package.json')), 'build', 'src', 'index.js');
/** The compiled targets jsfuzz runs (also when this module runs from src/ under jest). */
export const BUILT_TARGETS_DIR = path.resolve(__dirname, '..', 'dist', 'targets');
/** Where npm run fuzz keeps jsfuzz's working corpora and logs (git-ignored). */
const DEFAULT_WORK_DIR = path.resolve(__dirname, '..', '.work');
/** Where npm run fuzz writes crash inputs (git-ignored). */
const DEFAULT_FINDINGS_DIR = path.resolve(__dirname, '..', 'findings');

export interface FuzzOptions {
  /** Fuzzing time per target, from its first input. */
  fuzzTimeS: number;
  workDir: string;
  findingsDir: string;
  /** Longest one input may take (harness, in-process). */
  inputBudgetMs: number;
  /** jsfuzz --timeout: a worker silent this long is killed and its input recorded as a hang. */
  hangTimeoutS: number;
  /** jsfuzz --rss-limit-mb, also the worker's heap limit. */
  rssLimitMb: number;
  /** Harness cap on the growth of the worker's peak RSS. */
  maxRssGrowthMb: number;
  /** Start from the seed corpus alone (drop the work corpus of earlier runs). */
  fresh: boolean;
  /** Stream jsfuzz's output. */
  verbose: boolean;
  /** Overrides for tests: the target file and its seed corpus directory. */
  targetFileOverride?: string;
  seedDirOverride?: string;
}

export const DEFAULT_OPTIONS: FuzzOptions = {
  fuzzTimeS: 60,
  workDir: DEFAULT_WORK_DIR,
  findingsDir: DEFAULT_FINDINGS_DIR,
  inputBudgetMs: 2000,
  hangTimeoutS: 10,
  rssLimitMb: 2048,
  maxRssGrowthMb: 512,
  fresh: false,
  verbose: false,
};

export interface FuzzResult {
  target: string;
  /** Inputs the target ran (from the harness; jsfuzz's last count if the worker was killed). */
  runs: number;
  /** jsfuzz's coverage count (statements, functions, branches hit) and corpus size at the end. */
  coverage: number;
  corpus: number;
  seconds: number;
  /** Crash inputs written (empty: no finding). */
  findings: string[];
  /** What the worker printed for the finding (the error and its stack), or why jsfuzz failed. */
  detail: string;
  /** jsfuzz's exit code (0 without a finding). */
  exitCode: number | null;
  /** jsfuzz's output. */
  logFile: string;
}

function lastMatch(text: string, re: RegExp): number | undefined {
  let found: number | undefined;
  for (const m of text.matchAll(re)) found = Number(m[1]);
  return found;
}

/** The error jsfuzz's worker printed: the text after its last `=====` line. */
function findingDetail(log: string): string {
  const at = log.lastIndexOf('=================================================================');
  if (at < 0) return '';
  return log
    .slice(at)
    .split('\n')
    .slice(1)
    .filter((l) => !/^(crash was written to|crash\(hex\)=|Worker (exited|killed)|#\d+ )/.test(l))
    .join('\n')
    .trim();
}

export async function fuzzTarget(name: string, options: FuzzOptions): Promise<FuzzResult> {
  const target = options.targetFileOverride ?? path.join(BUILT_TARGETS_DIR, `${name}.js`);
  if (!fs.existsSync(target)) throw new Error(`fuzz target '${name}' is not built (no ${target}): run \`npx nx run fuzz:build\` first`);
  const work = path.join(options.workDir, name);
  const workCorpus = path.join(work, 'corpus');
  if (options.fresh) fs.rmSync(workCorpus, { recursive: true, force: true });
  fs.mkdirSync(workCorpus, { recursive: true });
  const seedDir = options.seedDirOverride ?? path.join(CORPUS_DIR, name);
  if ((options.seedDirOverride ? fs.readdirSync(seedDir) : corpusFiles(name)).length === 0) throw new Error(`fuzz target '${name}' has no seed corpus in ${seedDir}: run \`npx nx run fuzz:seeds\``);
  const findingsDir = path.join(options.findingsDir, name);
  fs.mkdirSync(findingsDir, { recursive: true });
  const crashFile = path.join(findingsDir, `crash-${new Date().toISOString().replace(/[:.]/g, '-')}`);
  const statsFile = path.join(work, 'stats.json');
  const logFile = path.join(work, 'jsfuzz.log');
  fs.rmSync(statsFile, { force: true });
  const args = [JSFUZZ_BIN, path.relative(work, target), workCorpus, seedDir, '--exact-artifact-path', crashFile, '--timeout', String(options.hangTimeoutS), '--rss-limit-mb', String(options.rssLimitMb), '--no-versifier'];
  const started = Date.now();
  const child = spawn(process.execPath, args, {
    cwd: work,
    // Its own process group, so that a stuck jsfuzz can be killed with its worker.
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      ...process.env,
      FUZZ_TIME_MS: String(options.fuzzTimeS * 1000),
      FUZZ_STATS_FILE: statsFile,
      FUZZ_INPUT_BUDGET_MS: String(options.inputBudgetMs),
      FUZZ_MAX_RSS_GROWTH_MB: String(options.maxRssGrowthMb),
    },
  });
  const log = fs.createWriteStream(logFile);
  let output = '';
  const collect = (chunk: Buffer) => {
    output += chunk.toString('utf8');
    // Only the tail matters (last counts, the finding): keep memory bounded on long runs.
    if (output.length > 1 << 20) output = output.slice(-(1 << 19));
    log.write(chunk);
    if (options.verbose) process.stdout.write(chunk);
  };
  child.stdout.on('data', collect);
  child.stderr.on('data', collect);
  // Loading and instrumenting the target takes seconds; a hang is detected by jsfuzz within
  // hangTimeoutS + 3 s. Past this, jsfuzz itself is stuck.
  const guardMs = (options.fuzzTimeS + options.hangTimeoutS + 120) * 1000;
  let killed = false;
  const guard = setTimeout(() => {
    killed = true;
    if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
  }, guardMs);
  const exitCode = await new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  clearTimeout(guard);
  await new Promise<void>((resolve) => log.end(resolve));
  const stats = fs.existsSync(statsFile) ? (JSON.parse(fs.readFileSync(statsFile, 'utf8')) as { runs: number }) : undefined;
  const findings = fs.existsSync(crashFile) ? [crashFile] : [];
  let detail = findings.length > 0 ? findingDetail(output) : '';
  if (findings.length === 0 && (exitCode !== 0 || killed)) {
    detail = killed ? `jsfuzz did not finish within ${guardMs / 1000} s and was killed` : `jsfuzz exited with code ${exitCode} without a crash file:\n${output.slice(-2000)}`;
  }
  return {
    target: name,
    runs: stats?.runs ?? lastMatch(output, /^#(\d+) /gm) ?? 0,
    coverage: lastMatch(output, /cov: (\d+)/g) ?? 0,
    corpus: lastMatch(output, /corp: (\d+)/g) ?? 0,
    seconds: (Date.now() - started) / 1000,
    findings,
    detail,
    exitCode,
    logFile,
  };
}

/** True when the run found nothing and jsfuzz ended normally. */
export function clean(r: FuzzResult): boolean {
  return r.findings.length === 0 && r.exitCode === 0 && r.detail === '';
}

export function formatResult(r: FuzzResult): string {
  const head = `${r.target}: ${r.runs} runs, coverage ${r.coverage}, corpus ${r.corpus}, ${r.seconds.toFixed(1)} s, findings ${r.findings.length}`;
  if (clean(r)) return head;
  const where = r.findings.length > 0 ? ` (crash input: ${r.findings.join(', ')})` : '';
  return `${head}${where}\n${r.detail.split('\n').map((l) => `    ${l}`).join('\n')}`;
}
