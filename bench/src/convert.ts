// Benchmark of the converter itself: `model convert --no-verify` on the 23 MB default
// MobileNet-SSD (issue goals: <= 1 s, peak RSS <= 3x the model size).
//
// Every conversion runs in its own child process (`node <child script> dist/cli.js convert ...`), so
// the peak RSS is the converter's own and not the benchmark harness's: the child reads
// VmHWM from /proc/self/status (the kernel's high-water mark of this address space, no sampling;
// unlike getrusage's maxRSS it does not carry over the forking parent's size across exec) after the
// CLI's main() has returned. Time is the converter's own too: the CLI's report timings (read ->
// decode -> validate -> fold -> encode and write), without node start-up; the child process wall
// time is reported next to it. Baselines: the peak RSS of a bare `node` and of a node that has
// loaded the CLI's modules, so the converter's working memory can be told from the runtime's.
//
// Needs the built CLI (`npx nx run model-cli:build`). Only node built-ins are imported, so this file
// compiles in any project that wants to run it.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export interface ConvertBenchOptions {
  /** Timed conversions after one warm-up run (default 5). */
  iterations?: number;
  /** Model to convert (default: the default MobileNet-SSD, written by the CLI to a temp dir). */
  modelPath?: string;
  /** The built CLI (default: apps/model-cli/dist/main.js, found from this file or the working directory). */
  cliPath?: string;
}

interface Spread {
  median: number;
  min: number;
  max: number;
}

export interface ConvertBench {
  model: { path: string; bytes: number };
  iterations: number;
  /** BatchNormalization nodes found / folded (from the CLI's report). */
  batchNormFound: number;
  batchNormFolded: number;
  /** The converter's own time (read, decode, fold, encode, write), ms. */
  timeMs: Spread;
  /** Stage medians, ms. */
  stagesMs: { decode: number; fold: number; encode: number };
  /** Wall time of the whole child process (node start-up and module loading included), ms. */
  processMs: Spread;
  /** Peak RSS of the converting process, bytes. */
  peakRssBytes: Spread;
  /** Peak RSS of `node -e ''` and of node after loading the CLI's modules, bytes. */
  baselineRssBytes: { node: number; loaded: number };
  /** Max peak RSS / model size (goal <= 3). */
  rssRatio: number;
  /** (Max peak RSS - loaded baseline) / model size: the converter's working memory. */
  workingRssRatio: number;
  goals: { timeMs: number; rssRatio: number };
  meetsTimeGoal: boolean;
  meetsRssGoal: boolean;
}

const PEAK_RSS_KB = `Number(/VmHWM:\\s+(\\d+)/.exec(require('fs').readFileSync('/proc/self/status', 'utf8'))[1])`;

const CHILD = `
const cli = require(process.argv[1]);
cli.main(process.argv.slice(2)).then((code) => {
  process.stdout.write('\\nBN_FUSE_BENCH ' + JSON.stringify({ code, maxRssKb: ${PEAK_RSS_KB} }) + '\\n');
  process.exit(code);
});`;

const BASELINE = `
if (process.argv[1]) require(process.argv[1]);
process.stdout.write('BN_FUSE_BENCH ' + JSON.stringify({ code: 0, maxRssKb: ${PEAK_RSS_KB} }) + '\\n');`;

function findCli(): string {
  const candidates = [path.resolve(__dirname, '../../apps/model-cli/dist/main.js')];
  for (let dir = process.cwd(); ; dir = path.dirname(dir)) {
    candidates.push(path.join(dir, 'apps/model-cli/dist/main.js'));
    if (path.dirname(dir) === dir) break;
  }
  const found = candidates.find((c) => fs.existsSync(c));
  if (!found) throw new Error('apps/model-cli/dist/main.js not found: run `npx nx run model-cli:build` first');
  return found;
}

function runChild(script: string, args: string[]): { code: number; maxRssBytes: number; wallMs: number; stdout: string } {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, ['-e', script, ...args], { encoding: 'utf8', maxBuffer: 16 << 20 });
  const wallMs = performance.now() - t0;
  const line = r.stdout.split('\n').find((l) => l.startsWith('BN_FUSE_BENCH '));
  if (!line) throw new Error(`benchmark child failed (exit ${r.status}): ${r.stderr.trim().split('\n').slice(-3).join(' | ')}`);
  const { code, maxRssKb } = JSON.parse(line.slice('BN_FUSE_BENCH '.length)) as { code: number; maxRssKb: number };
  return { code, maxRssBytes: maxRssKb * 1024, wallMs, stdout: r.stdout };
}

function spread(values: number[]): Spread {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  const median = sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
  return { median, min: sorted[0], max: sorted[sorted.length - 1] };
}

export function benchConvert(opts: ConvertBenchOptions = {}): ConvertBench {
  const iterations = Math.max(1, opts.iterations ?? 5);
  const cliPath = opts.cliPath ?? findCli();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bn-fuse-bench-'));
  try {
    let modelPath = opts.modelPath;
    if (!modelPath) {
      modelPath = path.join(dir, 'mobilenet-ssd.unfused.onnx');
      const w = spawnSync(process.execPath, [cliPath, 'write-mobilenet-ssd', '--output', modelPath], { encoding: 'utf8' });
      if (w.status !== 0) throw new Error(`write-mobilenet-ssd failed: ${w.stderr}`);
    }
    const modelBytes = fs.statSync(modelPath).size;
    const times: number[] = [];
    const stages: { decode: number[]; fold: number[]; encode: number[] } = { decode: [], fold: [], encode: [] };
    const wall: number[] = [];
    const rss: number[] = [];
    let found = 0;
    let folded = 0;
    for (let i = 0; i <= iterations; i++) {
      const out = path.join(dir, `out-${i}.onnx`);
      const report = path.join(dir, `report-${i}.json`);
      const r = runChild(CHILD, [cliPath, 'convert', '--no-verify', '--input', modelPath, '--output', out, '--report', report]);
      if (r.code !== 0) throw new Error(`convert exited ${r.code}: ${r.stdout}`);
      const json = JSON.parse(fs.readFileSync(report, 'utf8')) as {
        timings: { readMs: number; foldMs: number; encodeMs: number; totalMs: number };
        report: { batchNormFound: number; batchNormFolded: number };
      };
      fs.rmSync(out);
      if (i === 0) continue; // warm-up (page cache, code cache)
      times.push(json.timings.totalMs);
      stages.decode.push(json.timings.readMs);
      stages.fold.push(json.timings.foldMs);
      stages.encode.push(json.timings.encodeMs);
      wall.push(r.wallMs);
      rss.push(r.maxRssBytes);
      found = json.report.batchNormFound;
      folded = json.report.batchNormFolded;
    }
    const node = runChild(BASELINE, ['']).maxRssBytes;
    const loaded = runChild(BASELINE, [cliPath]).maxRssBytes;
    const peak = spread(rss);
    const timeMs = spread(times);
    const goals = { timeMs: 1000, rssRatio: 3 };
    const rssRatio = peak.max / modelBytes;
    return {
      model: { path: opts.modelPath ?? 'default MobileNet-SSD (write-mobilenet-ssd)', bytes: modelBytes },
      iterations,
      batchNormFound: found,
      batchNormFolded: folded,
      timeMs,
      stagesMs: { decode: spread(stages.decode).median, fold: spread(stages.fold).median, encode: spread(stages.encode).median },
      processMs: spread(wall),
      peakRssBytes: peak,
      baselineRssBytes: { node, loaded },
      rssRatio,
      workingRssRatio: (peak.max - loaded) / modelBytes,
      goals,
      meetsTimeGoal: timeMs.median <= goals.timeMs,
      meetsRssGoal: rssRatio <= goals.rssRatio,
    };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** One-paragraph summary of a result, for logs and reports. */
export function formatConvertBench(b: ConvertBench): string {
  const mb = (n: number) => `${(n / 1e6).toFixed(1)} MB`;
  return [
    `bn-fuse convert --no-verify, ${mb(b.model.bytes)} model, ${b.batchNormFolded}/${b.batchNormFound} BN folded, ${b.iterations} runs:`,
    `  time ${b.timeMs.median.toFixed(0)} ms median (${b.timeMs.min.toFixed(0)}..${b.timeMs.max.toFixed(0)}; read+decode ${b.stagesMs.decode.toFixed(0)}, fold ${b.stagesMs.fold.toFixed(0)}, encode+write ${b.stagesMs.encode.toFixed(0)}), process ${b.processMs.median.toFixed(0)} ms; goal <= ${b.goals.timeMs} ms: ${b.meetsTimeGoal ? 'met' : 'NOT met'}`,
    `  peak RSS ${mb(b.peakRssBytes.max)} = ${b.rssRatio.toFixed(2)}x the model; goal <= ${b.goals.rssRatio}x: ${b.meetsRssGoal ? 'met' : 'NOT met'} (bare node ${mb(b.baselineRssBytes.node)}, node + CLI modules ${mb(b.baselineRssBytes.loaded)}; working memory ${b.workingRssRatio.toFixed(2)}x)`,
  ].join('\n');
}
