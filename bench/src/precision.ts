// INT8 and the image path (issue 15): raw onnxruntime INT8 next to fp32 on ready tensors, the
// service in fp32 exact / INT8 exact / INT8 fast through the gateway (throughput and one camera's
// latency), what the fast path saves in decoding and how far it moves detections, and the pool
// layouts that trade a lone image's latency against throughput.
import { readFileSync } from 'node:fs';
import sharp from 'sharp';
import * as path from 'node:path';
import { faceApiDemoDir } from '@edge-ssd/importers/testing';
import { findBuiltinModel, prepareBuiltinModel } from '@edge-ssd/model-zoo';
import { MOBILENET_SSD_VOC_300, type Detection } from '@edge-ssd/ssd-core';
import { decodeProbed, fastDecodeSize, loadModel, probeImage, SsdSession, type ImageSource } from '@edge-ssd/ssd-pipeline';
import { compareDetections, DEFAULT_CRITERIA, summariseAgreement, type Agreement } from '@edge-ssd/quantize';
import { benchRawOrt, type RawOrtCase } from './raw-ort';
import { benchThroughput, detectJpegs, makeClient, startServices, type ThroughputCase } from './service';
import { f1, f2, spread, table } from './markdown';
import { elapsedMs, summarize, type Summary } from './stats';

interface ServiceCase {
  label: string;
  precision: 'fp32' | 'int8';
  imagePath: 'exact' | 'fast';
  /** 8 clients x 32 JPEGs per request through the gateway. */
  throughput: ThroughputCase;
  /** One 640x480 JPEG per call, one client, through the gateway. */
  singleMs: Summary;
}

interface LayoutCase {
  label: string;
  poolSize: number;
  threads: number;
  runs: number;
  /** 8 clients x 32 JPEGs per request, detector alone. */
  throughput: ThroughputCase;
  /** One 640x480 JPEG per call, one client, detector alone. */
  singleMs: Summary;
}

interface DecodeCost {
  size: string;
  megapixels: number;
  exactMs: Summary;
  fastMs: Summary;
}

export interface PrecisionBench {
  raw: RawOrtCase[];
  services: ServiceCase[];
  layouts: LayoutCase[];
  decode: DecodeCost[];
  /** Face model, exact vs fast image path, on the face-api demo photos at phone-camera size. */
  fastVsExact?: Agreement & { photos: string };
}

const FACE_PHOTOS = faceApiDemoDir();

async function singleImageLatency(client: ReturnType<typeof makeClient>, jpeg: Buffer, calls: number): Promise<Summary> {
  const samples: number[] = [];
  for (let i = 0; i < calls + 3; i++) {
    const t0 = process.hrtime.bigint();
    await detectJpegs(client, [jpeg]);
    if (i >= 3) samples.push(elapsedMs(t0));
  }
  return summarize(samples);
}

async function modelPath(name: string, dir: string): Promise<string> {
  const model = findBuiltinModel(name);
  if (!model) throw new Error(`no built-in model ${name}`);
  return (await prepareBuiltinModel(model, dir)).path;
}

async function benchDecode(jpeg: Buffer, rounds: number): Promise<{ exactMs: Summary; fastMs: Summary }> {
  const source: ImageSource = { kind: 'encoded', bytes: jpeg };
  const limits = { maxPixels: 8192 * 8192, maxBytes: 64 << 20 };
  const probe = await probeImage(source, limits);
  const size = fastDecodeSize(probe, MOBILENET_SSD_VOC_300.input);
  const exact: number[] = [];
  const fast: number[] = [];
  for (let i = 0; i <= rounds; i++) {
    let t0 = process.hrtime.bigint();
    await decodeProbed(source, probe, limits);
    const e = elapsedMs(t0);
    t0 = process.hrtime.bigint();
    await decodeProbed(source, probe, limits, size);
    const f = elapsedMs(t0);
    if (i > 0) {
      exact.push(e);
      fast.push(f);
    }
  }
  return { exactMs: summarize(exact), fastMs: summarize(fast) };
}

/** The face model over the demo photos enlarged 2x (lanczos3), exact path vs fast path. */
async function benchFastVsExact(faceModel: string): Promise<Agreement & { photos: string }> {
  const files = Array.from({ length: 6 }, (_, i) => path.join(FACE_PHOTOS, `sample${i + 1}.jpg`));
  const session = await SsdSession.create(faceModel, (await loadModel(faceModel)).spec, { intraOpThreads: 2, maxBatch: 1 });
  const spec = session.spec;
  const limits = { maxPixels: 8192 * 8192, maxBytes: 64 << 20 };
  const scoreThreshold = 0.45 - 1e-6;
  try {
    const images = [];
    for (const file of files) {
      const meta = await sharp(file).metadata();
      const bytes = await sharp(file).resize(meta.width! * 2, meta.height! * 2, { kernel: 'lanczos3' }).jpeg({ quality: 92 }).toBuffer();
      const source: ImageSource = { kind: 'encoded', bytes };
      const probe = await probeImage(source, limits);
      const run = async (size?: { width: number; height: number }): Promise<Detection[]> => {
        const image = await decodeProbed(source, probe, limits, size);
        return (await session.run([{ image, options: { scoreThreshold } }]))[0]!;
      };
      images.push(compareDetections(path.basename(file), await run(), await run(fastDecodeSize(probe, spec.input))));
    }
    return { ...summariseAgreement(images, DEFAULT_CRITERIA), photos: `@vladmandic/face-api demo/sample1-6.jpg enlarged 2x (lanczos3, JPEG q92), ${files.length} photos` };
  } finally {
    await session.release();
  }
}

export async function benchPrecision(options: { modelDir: string; jpegs: Buffer[]; largeJpeg: Buffer; rounds: (count: number) => number; log: (m: string) => void }): Promise<PrecisionBench> {
  const { modelDir, jpegs, rounds: n, log } = options;
  const fp32 = await modelPath('mobilenet-ssd-voc-300', modelDir);
  const int8 = await modelPath('mobilenet-ssd-voc-300-int8', modelDir);
  const face = await modelPath('faceapi-ssd-mobilenetv1', modelDir);

  log('raw onnxruntime, fp32 vs INT8');
  const raw: RawOrtCase[] = [];
  for (const threads of [1, 2]) {
    for (const batch of [1, 8]) {
      // Interleaved, so the machine's drift hits both alike.
      raw.push(await benchRawOrt(fp32, 'fp32', batch, threads, n(batch === 1 ? 40 : 12)));
      raw.push(await benchRawOrt(int8, 'int8', batch, threads, n(batch === 1 ? 40 : 12)));
    }
  }

  log('service: fp32 exact, INT8 exact, INT8 fast (gateway, default pool layout)');
  const services: ServiceCase[] = [];
  const single = jpegs[0]!;
  for (const [precision, imagePath] of [['fp32', 'exact'], ['int8', 'exact'], ['int8', 'fast']] as const) {
    const s = await startServices({ MODEL_PATH: precision === 'int8' ? int8 : fp32, DETECTOR_IMAGE_PATH: imagePath }, true);
    const client = makeClient('Gateway', s.gateway!.port);
    try {
      await detectJpegs(client, jpegs);
      const throughput = await benchThroughput(client, 'gateway', jpegs, 8, n(3));
      const singleMs = await singleImageLatency(client, single, n(40));
      services.push({ label: `${precision} ${imagePath}`, precision, imagePath, throughput, singleMs });
    } finally {
      client.close();
      await s.stop();
    }
  }

  log('pool layouts: a lone image vs throughput (fp32, detector alone)');
  const layouts: LayoutCase[] = [];
  for (const [label, poolSize, threads, runs] of [
    ['2 workers x 2 threads, 1 run at a time (default)', 2, 2, 1],
    ['2 workers x 1 thread', 2, 1, 2],
    ['1 worker x 2 threads', 1, 2, 1],
    ['2 workers x 2 threads, ungated', 2, 2, 2],
  ] as const) {
    const s = await startServices({ MODEL_PATH: fp32, DETECTOR_POOL_SIZE: String(poolSize), DETECTOR_INTRA_OP_THREADS: String(threads), DETECTOR_CONCURRENT_RUNS: String(runs) }, false);
    const client = makeClient('Detector', s.detector.port);
    try {
      await detectJpegs(client, jpegs);
      const throughput = await benchThroughput(client, 'detector', jpegs, 8, n(3));
      const singleMs = await singleImageLatency(client, single, n(30));
      layouts.push({ label, poolSize, threads, runs, throughput, singleMs });
    } finally {
      client.close();
      await s.stop();
    }
  }

  log('decode cost, exact vs fast');
  const decode: DecodeCost[] = [];
  for (const [jpeg, size] of [[single, '640x480'], [options.largeJpeg, '2592x1944']] as const) {
    const [w, h] = size.split('x').map(Number) as [number, number];
    decode.push({ size, megapixels: (w * h) / 1e6, ...(await benchDecode(jpeg, n(20))) });
  }

  let fastVsExact: PrecisionBench['fastVsExact'];
  try {
    readFileSync(path.join(FACE_PHOTOS, 'sample1.jpg'));
    log('fast vs exact image path, face model');
    fastVsExact = await benchFastVsExact(face);
  } catch (error) {
    log(`fast vs exact not measured: ${(error as Error).message}`);
  }
  return { raw, services, layouts, decode, fastVsExact };
}


/** The fp32 and INT8 yardsticks: best raw images/s, and batch-1 latency on every CPU. */
export function rawYardsticks(p: PrecisionBench, precision: 'fp32' | 'int8'): { best: RawOrtCase; batch1: RawOrtCase } {
  const cases = p.raw.filter((c) => c.model === precision);
  const best = cases.reduce((a, b) => (b.imagesPerSecond.median > a.imagesPerSecond.median ? b : a));
  const threads = Math.max(...cases.map((c) => c.threads));
  const batch1 = cases.filter((c) => c.batch === 1 && c.threads === threads).reduce((a, b) => (b.latencyMs.median < a.latencyMs.median ? b : a));
  return { best, batch1 };
}

export function renderPrecision(p: PrecisionBench): string {
  const out: string[] = [];
  out.push('## INT8 and the image path (seeded MobileNet-SSD VOC 300)');
  out.push('');
  out.push('Raw onnxruntime-node on ready tensors, fp32 and the INT8 QDQ model (`mobilenet-ssd-voc-300-int8`), interleaved:');
  out.push('');
  out.push(table(['model', 'batch', 'threads', 'latency ms', 'images/s'], p.raw.map((c) => [c.model, String(c.batch), String(c.threads), spread(c.latencyMs, 2), spread(c.imagesPerSecond)])));
  out.push('');
  out.push('The service through the gateway, default pool layout, 8 clients x 32 JPEGs (640x480) per request, and one camera: one 640x480 JPEG per call, one client:');
  out.push('');
  out.push(table(['service', 'images/s (8 clients)', 'one image p50 ms', 'one image p99 ms'], p.services.map((s) => [s.label, spread(s.throughput.imagesPerSecond), f2(s.singleMs.median), f2(s.singleMs.p99)])));
  out.push('');
  out.push('Pool layouts, fp32 exact, detector alone: throughput (8 clients x 32 JPEGs) against a lone 640x480 JPEG\'s latency:');
  out.push('');
  out.push(table(['layout', 'images/s (8 clients)', 'one image p50 ms', 'one image p99 ms'], p.layouts.map((l) => [l.label, spread(l.throughput.imagesPerSecond), f2(l.singleMs.median), f2(l.singleMs.p99)])));
  out.push('');
  out.push('JPEG decoding per image, single-threaded (fast: reduced to 300x300 by libvips while decoding):');
  out.push('');
  out.push(
    table(['JPEG', 'exact ms', 'exact ms per megapixel', 'fast ms', 'fast / exact'], p.decode.map((d) => [d.size, spread(d.exactMs, 2), f2(d.exactMs.median / d.megapixels), spread(d.fastMs, 2), f2(d.fastMs.median / d.exactMs.median)])),
  );
  out.push('');
  const a = p.fastVsExact;
  if (a) {
    out.push(
      `Fast vs exact image path, pretrained face model, ${a.photos}: of ${a.references} faces the exact path scores >= ${a.criteria.minScore}, the fast path finds ${a.found} (IoU >= ${a.criteria.minIou}, |score difference| <= ${a.criteria.scoreTolerance}) and adds ${a.extras}; smallest IoU ${f2(a.minIou)}, largest score difference ${a.maxScoreDelta.toFixed(4)}.`,
    );
    out.push('');
  }
  out.push(`Raw yardsticks: fp32 best ${f1(rawYardsticks(p, 'fp32').best.imagesPerSecond.median)} images/s, INT8 best ${f1(rawYardsticks(p, 'int8').best.imagesPerSecond.median)} images/s.`);
  return out.join('\n') + '\n';
}
