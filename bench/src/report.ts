// The benchmark report: the JSON shape written to bench/results and its Markdown rendering.
import { formatConvertBench } from './convert';
import type { PostprocessBench } from './postprocess';
import type { RawOrtCase } from './raw-ort';
import type { LoadTestResult, ThroughputCase } from './service';
import type { Summary } from './stats';
import { f1, f2, spread, table } from './markdown';
import { renderStreams, type StreamCase } from './stream';
import { renderHttp, type HttpCase } from './http';
import { renderPrecision, type PrecisionBench } from './precision';
import { renderAnatomy, type AnatomyBench } from './anatomy';

export interface Goal {
  name: string;
  value: number;
  op: '>=' | '<=';
  target: number;
  met: boolean;
}

export interface BenchReport {
  startedAt: string;
  durationSeconds: number;
  quick: boolean;
  machine: { cpus: number; cpuModel: string; memoryGiB: number; node: string; platform: string };
  images: string;
  raw: RawOrtCase[];
  fold: { unfusedDisabled: RawOrtCase; fusedDisabled: RawOrtCase; unfusedAll: RawOrtCase; fusedAll: RawOrtCase };
  postprocess: PostprocessBench & { inferenceBatch1Ms: number };
  throughput: ThroughputCase[];
  grid: Array<{ poolSize: number; threads: number; runs: number; result: ThroughputCase }>;
  load: LoadTestResult;
  goals: Goal[];
  /** Sections that could not be measured, with the reason. */
  notMeasured?: Record<string, string>;
  [section: string]: unknown;
}


export function renderMarkdown(report: BenchReport, chartFile: string): string {
  const m = report.machine;
  const { fold, postprocess: post, load } = report;
  const out: string[] = [];
  out.push(`# Benchmark ${report.startedAt}${report.quick ? ' (quick)' : ''}`);
  out.push('');
  out.push(`Machine: ${m.cpus} CPUs (${m.cpuModel}), ${f1(m.memoryGiB)} GiB, Node ${m.node}, ${m.platform}. Shared and noisy: compare ratios, not absolute figures. Run took ${f1(report.durationSeconds)} s. Images: ${report.images}, 640x480 JPEG. Figures are medians (min–max, n = repetitions).`);
  out.push('');
  out.push(`![throughput](${chartFile})`);
  out.push('');
  out.push('## Goals');
  out.push('');
  out.push(table(['goal', 'measured', 'target', ''], report.goals.map((g) => [g.name, f2(g.value), `${g.op} ${g.target}`, g.met ? 'met' : '**missed**'])));
  out.push('');
  out.push('## Raw onnxruntime-node (fused model, optimizations on)');
  out.push('');
  out.push(table(['batch', 'intra-op threads', 'latency ms', 'images/s'], report.raw.map((c) => [String(c.batch), String(c.threads), spread(c.latencyMs), spread(c.imagesPerSecond)])));
  out.push('');
  out.push('## Service: 32 JPEGs per request');
  out.push('');
  out.push('Detector with its default pool layout (one run at a time on both CPUs, two workers), max batch 8; the gateway forwards each request whole. Detector and gateway rounds alternate.');
  out.push('');
  out.push(
    table(
      ['path', 'clients', 'images/s', 'latency p50 ms', 'latency p99 ms', 'errors'],
      report.throughput.map((t) => [t.target, String(t.clients), spread(t.imagesPerSecond), f1(t.latencyMs.median), f1(t.latencyMs.p99), String(t.errors)]),
    ),
  );
  out.push('');
  const pipeline = report['pipeline'] as import('./pipeline').PipelineCost | undefined;
  const bestRaw = report.raw.reduce((a, b) => (b.imagesPerSecond.median > a.imagesPerSecond.median ? b : a));
  if (pipeline) {
    const inferenceCpuMs = (1000 * m.cpus) / bestRaw.imagesPerSecond.median;
    const overhead = pipeline.decodeMs.median + pipeline.preprocessMs.median;
    out.push(
      `Per image, single-threaded: JPEG decode ${spread(pipeline.decodeMs, 2)} ms, resize + normalise ${spread(pipeline.preprocessMs, 2)} ms, against ${f1(inferenceCpuMs)} CPU-ms of inference at raw ORT's best (${f1(bestRaw.imagesPerSecond.median)} images/s on ${m.cpus} CPUs). On a machine that runs both, the service's ceiling is about ${f2(inferenceCpuMs / (inferenceCpuMs + overhead))}x raw ORT.`,
    );
    out.push('');
  }
  const peer = report['opencv'] as { ok: boolean; version?: string; imagesPerSecond?: Summary; threads?: number } | undefined;
  if (peer?.ok && peer.imagesPerSecond) {
    out.push('## Peer: OpenCV DNN');
    out.push('');
    out.push(
      `chuanqi305's demo pipeline in OpenCV ${peer.version} (${peer.threads} threads), same model file and JPEGs, one image at a time: imdecode, resize (INTER_LINEAR), forward, DetectionOutput. ${spread(peer.imagesPerSecond)} images/s.`,
    );
    out.push('');
  }
  const small = report['smallRequestLatencyMs'] as { detector: Summary; gateway: Summary } | undefined;
  if (small) {
    out.push(`One 320x240 JPEG per call, 1 client, alternating: detector ${spread(small.detector, 2)} ms, through the gateway ${spread(small.gateway, 2)} ms.`);
    out.push('');
  }
  const optionsCost = report['optionsCostMs'] as { default: Summary; largest: Summary } | undefined;
  if (optionsCost) {
    out.push(
      `Post-processing bound: 32 one-pixel raw images per call to the detector, alternating: default options ${spread(optionsCost.default)} ms, every candidate kept with top_k = keep_top_k = 200 (the server maxima) ${spread(optionsCost.largest)} ms; larger values are refused (INVALID_ARGUMENT).`,
    );
    out.push('');
  }
  const streams = report['streams'] as StreamCase[] | undefined;
  if (streams && streams.length > 0) out.push(renderStreams(streams));
  const http = report['http'] as HttpCase[] | undefined;
  if (http && http.length > 0) out.push(renderHttp(http));
  const precision = report['precision'] as PrecisionBench | undefined;
  if (precision) {
    out.push(renderPrecision(precision));
  }
  const anatomy = report['anatomy'] as AnatomyBench | undefined;
  if (anatomy) out.push(renderAnatomy(anatomy));
  out.push('## Folded vs unfolded BatchNorm (raw ORT, batch 8, 2 threads)');
  out.push('');
  out.push('onnxruntime folds Conv+BatchNormalization itself at its default optimization level, so the fold pays off where that is off (or in runtimes that do not), and costs nothing where it is on.');
  out.push('');
  out.push(
    table(
      ['ORT optimizations', 'unfolded images/s', 'folded images/s', 'folded / unfolded'],
      [
        ['disabled', spread(fold.unfusedDisabled.imagesPerSecond), spread(fold.fusedDisabled.imagesPerSecond), f2(fold.fusedDisabled.imagesPerSecond.median / fold.unfusedDisabled.imagesPerSecond.median)],
        ['all (default)', spread(fold.unfusedAll.imagesPerSecond), spread(fold.fusedAll.imagesPerSecond), f2(fold.fusedAll.imagesPerSecond.median / fold.unfusedAll.imagesPerSecond.median)],
      ],
    ),
  );
  out.push('');
  out.push('## Decode + NMS (ssd-core, one image)');
  out.push('');
  out.push(
    table(
      ['case', 'candidates', 'median ms', 'p99 ms', 'vs batch-1 inference'],
      [
        ['few', String(post.fewCandidates.candidates), f2(post.fewCandidates.medianMs), f2(post.fewCandidates.p99Ms), `${f2((100 * post.fewCandidates.medianMs) / post.inferenceBatch1Ms)} %`],
        ['many', String(post.manyCandidates.candidates), f2(post.manyCandidates.medianMs), f2(post.manyCandidates.p99Ms), `${f2((100 * post.manyCandidates.medianMs) / post.inferenceBatch1Ms)} %`],
      ],
    ),
  );
  out.push('');
  out.push(`Batch-1 inference (1 thread) in the same run: ${f2(post.inferenceBatch1Ms)} ms.`);
  out.push('');
  const converter = report['converter'] as import('./convert').ConvertBench | undefined;
  if (converter) {
    out.push('## Converter (bn-fuse convert --no-verify, default MobileNet-SSD)');
    out.push('');
    out.push(formatConvertBench(converter).trimEnd());
    out.push('');
  }
  out.push('## Load test');
  out.push('');
  out.push(
    `${load.clients} clients, ${f1(load.targetRatePerSecond)} requests/s of 4 images (70 % of the best grid throughput), ${load.seconds} s, open loop: ${load.sent} sent, ${load.ok} OK, ${load.errors} errors; latency p50 ${f1(load.latencyMs.median)} ms, p99 ${f1(load.latencyMs.p99)} ms. Detector RSS ${f1((load.rss[0]?.[1] ?? NaN) / 2 ** 20)} → ${f1((load.rss[load.rss.length - 1]?.[1] ?? NaN) / 2 ** 20)} MiB; growth after warm-up ${f1(100 * load.rssGrowth)} %.`,
  );
  out.push('');
  for (const [section, text] of Object.entries(report.notMeasured ?? {})) out.push(`Not measured — ${section}: ${text}`);
  return out.join('\n') + '\n';
}
