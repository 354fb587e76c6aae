// `npm run bench`: the reproducible suite. Every figure is a median over repeated runs with its
// spread; every comparison is a ratio of two figures measured in this same run. Writes
// bench/results/<timestamp>.{json,md,svg} and copies the Markdown and chart to latest.*.
import { copyFileSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, totalmem } from 'node:os';
import * as path from 'node:path';
import { writeMobileNetSsd } from '@edge-ssd/importers';
import { findBuiltinModel, prepareBuiltinModel } from '@edge-ssd/model-zoo';
import { detectCall, onePixelRaw, REPO_ROOT } from '@edge-ssd/e2e';
import { benchAnatomy } from './anatomy';
import { barChartSvg } from './chart';
import { benchConvert } from './convert';
import { benchHttp } from './http';
import { benchImages } from './images';
import { benchPipeline } from './pipeline';
import { benchOpenCv } from './opencv';
import { benchPostprocess } from './postprocess';
import { benchPrecision, rawYardsticks } from './precision';
import { benchRawOrt, mergeRawOrt, type RawOrtCase } from './raw-ort';
import { renderMarkdown, type BenchReport, type Goal } from './report';
import { benchThroughput, detectJpegs, loadTest, makeClient, mergeThroughput, startServices, type ThroughputCase } from './service';
import { elapsedMs, ratio, summarize } from './stats';
import { benchStreams, type StreamCase } from './stream';

/** Every candidate kept, at the detector's default server maxima for top_k and keep_top_k. */
const LARGEST_OPTIONS = { scoreThreshold: 1e-30, iouThreshold: 1, topK: 200, keepTopK: 200 };

const log = (message: string): void => void process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}\n`);

async function main(): Promise<void> {
  const quick = process.argv.includes('--quick');
  const scale = quick ? 0.4 : 1;
  const n = (count: number): number => Math.max(2, Math.round(count * scale));
  const started = Date.now();

  const modelDir = path.join(REPO_ROOT, 'models');
  const { path: modelPath } = await prepareBuiltinModel(findBuiltinModel('mobilenet-ssd-voc-300')!, modelDir);
  // The same network before folding, for the fold's speed-up and the converter's own benchmark.
  const unfusedPath = path.join(modelDir, 'mobilenet-ssd-voc-300.unfused.onnx');
  if (!existsSync(unfusedPath)) writeFileSync(unfusedPath, writeMobileNetSsd());
  const images = await benchImages(32);
  log(`images: ${images.source}`);

  log('raw onnxruntime');
  const raw: RawOrtCase[] = [];
  for (const threads of [1, 2]) {
    for (const batch of [1, 8, 32]) raw.push(await benchRawOrt(modelPath, 'fused', batch, threads, n(batch === 1 ? 40 : batch === 8 ? 12 : 6)));
  }

  const precision = await benchPrecision({ modelDir, jpegs: images.jpegs, largeJpeg: (await benchImages(1, 2592, 1944)).jpegs[0]!, rounds: n, log });

  log('folded vs unfolded');
  const fold: RawOrtCase[] = [];
  for (const optimization of ['disabled', 'all'] as const) {
    // Interleaved so drift in the machine's load hits both models alike.
    for (let round = 0; round < 2; round++) {
      fold.push(await benchRawOrt(unfusedPath, 'unfused', 8, 2, n(6), optimization));
      fold.push(await benchRawOrt(modelPath, 'fused', 8, 2, n(6), optimization));
    }
  }
  const foldCase = (model: string, optimization: string): RawOrtCase =>
    mergeRawOrt(fold.filter((c) => c.model === model && c.optimization === optimization));

  log('converter');
  const converter = benchConvert({
    iterations: quick ? 3 : 7,
    modelPath: unfusedPath,
    cliPath: path.join(REPO_ROOT, 'apps', 'model-cli', 'dist', 'main.js'),
  });

  log('decode and preprocessing');
  const pipeline = await benchPipeline(images.jpegs, n(3));

  log('decode + NMS');
  const post = benchPostprocess({ iterations: quick ? 500 : 2000 });
  const batch1 = raw.find((c) => c.batch === 1 && c.threads === 1)!;

  log('detector and gateway (default pool layout, max batch 8)');
  const services = await startServices({ DETECTOR_MAX_BATCH: '8' }, true);
  const direct = makeClient('Detector', services.detector.port);
  const viaGateway = makeClient('Gateway', services.gateway!.port);
  const throughput: ThroughputCase[] = [];
  const small = { detector: [] as number[], gateway: [] as number[] };
  // The most post-processing a request may ask for (every candidate kept, top_k and keep_top_k at
  // the server maxima) next to the default, on 32 one-pixel images that cost nothing else.
  const options = { default: [] as number[], largest: [] as number[] };
  const smallImage = (await benchImages(1, 320, 240)).jpegs[0]!;
  let streams: StreamCase[] = [];
  try {
    await detectJpegs(direct, images.jpegs);
    await detectJpegs(viaGateway, images.jpegs);
    for (const clients of [1, 8]) {
      const rounds = n(clients === 1 ? 6 : 3);
      // Alternate direct and gateway rounds, so both see the same machine.
      const d: ThroughputCase[] = [];
      const g: ThroughputCase[] = [];
      for (let round = 0; round < rounds; round++) {
        d.push(await benchThroughput(direct, 'detector', images.jpegs, clients, 1));
        g.push(await benchThroughput(viaGateway, 'gateway', images.jpegs, clients, 1));
      }
      throughput.push(mergeThroughput(d), mergeThroughput(g));
    }
    // The hop's fixed cost, apart from moving 2.4 MB of JPEGs twice: one small image per call.
    for (let i = 0; i < n(30); i++) {
      for (const [client, samples] of [[direct, small.detector], [viaGateway, small.gateway]] as const) {
        const t0 = process.hrtime.bigint();
        await detectJpegs(client, [smallImage]);
        samples.push(elapsedMs(t0));
      }
    }
    for (let i = 0; i < n(10); i++) {
      for (const [key, opts] of [['default', {}], ['largest', LARGEST_OPTIONS]] as const) {
        const t0 = process.hrtime.bigint();
        await detectCall(direct, onePixelRaw(32, opts), { deadline: Date.now() + 120_000 });
        options[key].push(elapsedMs(t0));
      }
    }
    log('video streams vs the same frames as unary calls, through the gateway');
    streams = await benchStreams(viaGateway, images.jpegs, n(3), quick ? 24 : 60);
  } finally {
    direct.close();
    viaGateway.close();
    await services.stop();
  }

  // Pool layouts are measured with a lone image's latency in benchPrecision.
  const grid = precision.layouts.map((l) => ({ poolSize: l.poolSize, threads: l.threads, runs: l.runs, result: l.throughput }));

  log('HTTP vs gRPC, one image per call, through the gateway');
  const http = await benchHttp(images.jpegs.slice(0, 8), n(3), quick ? 15 : 30);

  log('OpenCV DNN peer');
  const peer = benchOpenCv(modelPath, images.jpegs, n(4), 2);

  log('load test');
  const best = grid.reduce((a, b) => (b.result.imagesPerSecond.median > a.result.imagesPerSecond.median ? b : a));
  const loadImages = images.jpegs.slice(0, 4);
  const rate = Math.max(1, Math.floor((0.7 * best.result.imagesPerSecond.median) / loadImages.length));
  const ls = await startServices({ DETECTOR_POOL_SIZE: String(best.poolSize), DETECTOR_INTRA_OP_THREADS: String(best.threads), DETECTOR_CONCURRENT_RUNS: String(best.runs) }, false);
  const loadClients = Array.from({ length: 4 }, () => makeClient('Detector', ls.detector.port));
  let load;
  try {
    await detectJpegs(loadClients[0]!, loadImages);
    load = await loadTest(loadClients, loadImages, rate, quick ? 20 : 60, ls.detector.process.pid!);
  } finally {
    for (const c of loadClients) c.close();
    await ls.stop();
  }

  log('MobileNet-SSD vs VGG16-SSD');
  const anatomy = await benchAnatomy({ modelDir, jpegs: images.jpegs.slice(0, 8), clients: 2, rounds: n(3), log });

  const rawB8T2 = raw.find((c) => c.batch === 8 && c.threads === 2)!;
  const detector8 = throughput.find((t) => t.target === 'detector' && t.clients === 8)!;
  const gateway8 = throughput.find((t) => t.target === 'gateway' && t.clients === 8)!;
  const detector1 = throughput.find((t) => t.target === 'detector' && t.clients === 1)!;
  const gateway1 = throughput.find((t) => t.target === 'gateway' && t.clients === 1)!;
  const fp32Raw = rawYardsticks(precision, 'fp32');
  const int8Raw = rawYardsticks(precision, 'int8');
  const service = (label: string) => precision.services.find((s) => s.label === label)!;
  const goals: Goal[] = [
    goal('service fp32 exact (gateway, 8 clients) vs raw onnxruntime fp32 (best batch and threads)', service('fp32 exact').throughput.imagesPerSecond.median / fp32Raw.best.imagesPerSecond.median, '>=', 0.9),
    goal('service INT8 exact (gateway, 8 clients) vs raw onnxruntime fp32', service('int8 exact').throughput.imagesPerSecond.median / fp32Raw.best.imagesPerSecond.median, '>=', 1.5),
    goal('service INT8 fast (gateway, 8 clients) vs raw onnxruntime fp32', service('int8 fast').throughput.imagesPerSecond.median / fp32Raw.best.imagesPerSecond.median, '>=', 1.5),
    ...(peer.ok ? [goal('service INT8 exact vs OpenCV DNN pipeline (2 threads)', service('int8 exact').throughput.imagesPerSecond.median / peer.imagesPerSecond.median, '>=', 4)] : []),
    goal(`one 640x480 JPEG via the gateway, p50, fp32 vs raw batch 1 at ${fp32Raw.batch1.threads} threads`, service('fp32 exact').singleMs.median / fp32Raw.batch1.latencyMs.median, '<=', 1.3),
    goal(`one 640x480 JPEG via the gateway, p50, INT8 vs raw INT8 batch 1 at ${int8Raw.batch1.threads} threads`, service('int8 exact').singleMs.median / int8Raw.batch1.latencyMs.median, '<=', 1.3),
    goal('service end-to-end vs raw onnxruntime (detector, 8 clients; default pool, batch 8)', ratio(detector8.imagesPerSecond, rawB8T2.imagesPerSecond), '>=', 0.85),
    goal('gateway throughput overhead (8 clients)', 1 - ratio(gateway8.imagesPerSecond, detector8.imagesPerSecond), '<=', 0.05),
    goal('gateway added p50 latency, ms (1 client, 32 images, 2.4 MB)', gateway1.latencyMs.median - detector1.latencyMs.median, '<=', 1),
    goal('gateway added p50 latency, ms (1 client, 1 image of 320x240)', summarize(small.gateway).median - summarize(small.detector).median, '<=', 1),
    ...(peer.ok
      ? [goal('detector (best of pool x threads, 8 clients) vs OpenCV DNN pipeline (2 threads)', best.result.imagesPerSecond.median / peer.imagesPerSecond.median, '>=', 2.5)]
      : []),
    goal('request time, largest allowed options vs default (32 one-pixel images)', summarize(options.largest).median / summarize(options.default).median, '<=', 2),
    goal('decode + NMS, many candidates, vs batch-1 inference (1 thread)', post.manyCandidates.medianMs / batch1.latencyMs.median, '<=', 0.05),
    goal('RSS growth after warm-up under load', load.rssGrowth, '<=', 0.1),
    goal('converter time without verification, ms (23 MB MobileNet-SSD)', converter.timeMs.median, '<=', 1000),
    goal('converter peak RSS / model size', converter.rssRatio, '<=', 3),
  ];

  const report: BenchReport = {
    startedAt: new Date(started).toISOString(),
    durationSeconds: (Date.now() - started) / 1000,
    quick,
    machine: { cpus: availableParallelism(), cpuModel: cpus()[0]?.model ?? 'unknown', memoryGiB: totalmem() / 2 ** 30, node: process.version, platform: `${process.platform}-${process.arch}` },
    images: images.source,
    raw,
    fold: { unfusedDisabled: foldCase('unfused', 'disabled'), fusedDisabled: foldCase('fused', 'disabled'), unfusedAll: foldCase('unfused', 'all'), fusedAll: foldCase('fused', 'all') },
    postprocess: { ...post, inferenceBatch1Ms: batch1.latencyMs.median },
    throughput,
    grid,
    load: { ...load, rss: load.rss },
    opencv: peer,
    precision,
    converter,
    pipeline,
    smallRequestLatencyMs: { detector: summarize(small.detector), gateway: summarize(small.gateway) },
    optionsCostMs: { default: summarize(options.default), largest: summarize(options.largest) },
    streams,
    http,
    anatomy,
    goals,
    notMeasured: peer.ok ? {} : { 'OpenCV DNN peer': peer.error },
  };
  const dir = path.join(REPO_ROOT, 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  const stamp = report.startedAt.replace(/[:.]/g, '-');
  const svg = barChartSvg('MobileNet-SSD 300, images/s on this machine', 'images per second', [
    { label: 'raw ORT, batch 8, 2 threads', value: rawB8T2.imagesPerSecond.median, min: rawB8T2.imagesPerSecond.min, max: rawB8T2.imagesPerSecond.max },
    ...throughput.map((t) => ({ label: `${t.target}, ${t.clients} client${t.clients > 1 ? 's' : ''}`, value: t.imagesPerSecond.median, min: t.imagesPerSecond.min, max: t.imagesPerSecond.max })),
    ...(peer.ok ? [{ label: `OpenCV DNN ${peer.version}, 2 threads`, value: peer.imagesPerSecond.median, min: peer.imagesPerSecond.min, max: peer.imagesPerSecond.max }] : []),
    { label: 'raw ORT INT8, best', value: int8Raw.best.imagesPerSecond.median, min: int8Raw.best.imagesPerSecond.min, max: int8Raw.best.imagesPerSecond.max },
    ...precision.services.map((s) => ({ label: `service ${s.label} (gateway)`, value: s.throughput.imagesPerSecond.median, min: s.throughput.imagesPerSecond.min, max: s.throughput.imagesPerSecond.max })),
  ]);
  writeFileSync(path.join(dir, `${stamp}.json`), JSON.stringify(report, null, 2) + '\n');
  writeFileSync(path.join(dir, `${stamp}.svg`), svg);
  writeFileSync(path.join(dir, `${stamp}.md`), renderMarkdown(report, `${stamp}.svg`));
  copyFileSync(path.join(dir, `${stamp}.svg`), path.join(dir, 'latest.svg'));
  writeFileSync(path.join(dir, 'latest.md'), renderMarkdown(report, 'latest.svg'));
  log(`wrote bench/results/${stamp}.{json,md,svg} in ${report.durationSeconds.toFixed(0)} s`);
  process.stdout.write(renderMarkdown(report, 'latest.svg'));
}

function goal(name: string, value: number, op: '>=' | '<=', target: number): Goal {
  return { name, value, op, target, met: op === '>=' ? value >= target : value <= target };
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
