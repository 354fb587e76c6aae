// The Detector service as a gRPC client sees it: a real grpc-js server on an ephemeral port with
// the service's real parts (decoding, pixel budget, decode limiter, dynamic batcher, ModelInfo
// from loadModel) in front of a real onnxruntime session of a tiny generated model
// (test/support/tiny-ssd.ts), run in this thread instead of the worker pool (pool.test.ts).
import * as grpc from '@grpc/grpc-js';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { loadSsdPackage, type DetectorClient, type DetectorHandlers, type DetectRequestInit, type DetectResponse, type ModelInfo } from '@edge-ssd/protos';
import type { Detection } from '@edge-ssd/ssd-core';
import sharp from 'sharp';
import { fastDecodeSize, loadModel, SsdSession } from '@edge-ssd/ssd-pipeline';
import { bindServer, ByteBudget, createLogger, Limiter, unary } from '@edge-ssd/service-kit';
import { DynamicBatcher, type BatcherLimits } from '../src/batching/dynamic-batcher';
import { modelInfo } from '../src/model/model-info';
import { createDetectService, type DetectServiceDeps } from '../src/service/detect-service';
import type { InferenceItem } from '../src/worker/protocol';
import { PRIOR_BOX, TINY_SPEC, writeTinySsdModel } from '@edge-ssd/ssd-pipeline/testing';
import { until } from '@edge-ssd/service-kit/testing';

const { Detector } = loadSsdPackage();
const MAX_BATCH = 4;

let dir: string;
let modelPath: string;
let session: SsdSession;
let info: ModelInfo;
beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'detect-service-'));
  modelPath = writeTinySsdModel(dir, 'tiny.onnx');
  info = modelInfo(await loadModel(modelPath));
  session = await SsdSession.create(modelPath, TINY_SPEC, { intraOpThreads: 1, maxBatch: MAX_BATCH });
});
afterAll(async () => {
  await session?.release();
  rmSync(dir, { recursive: true, force: true });
});

interface RunningDetector {
  client: DetectorClient;
  batcher: DynamicBatcher<InferenceItem, Detection[]>;
  pixels: ByteBudget;
  /** Every session run, as the images (their ids are in the pixels' first byte: see `raw`). */
  runs: number[][];
  /** What the service recorded per call: its status and each image's. */
  records: Array<{ code: grpc.status; images: grpc.status[] }>;
  /** The service's log lines. */
  log: string[];
  /** Ids of the calls the server saw cancelled. */
  cancelled: string[][];
}

type Runner = (items: InferenceItem[]) => Promise<Detection[][]>;

const closers: Array<() => void> = [];
afterEach(() => {
  for (const close of closers.splice(0)) close();
});

async function startDetector(
  over: {
    batcher?: Partial<BatcherLimits>;
    pixelBytes?: number;
    memoryWaitMs?: number;
    runner?: (run: Runner) => Runner;
    limits?: Partial<DetectServiceDeps['limits']>;
    decodeSize?: DetectServiceDeps['decodeSize'];
  } = {},
): Promise<RunningDetector> {
  const runs: number[][] = [];
  const run: Runner = (items) => {
    runs.push(items.map((i) => i.image.data[0]!));
    return session.run(items);
  };
  const batcher = new DynamicBatcher<InferenceItem, Detection[]>(
    { maxBatch: MAX_BATCH, maxQueueDelayMs: 0, maxQueue: 16, concurrency: 1, ...over.batcher },
    over.runner ? over.runner(run) : run,
  );
  const pixels = new ByteBudget(over.pixelBytes ?? 1 << 20, { name: 'detector pixel budget', maxWaiters: 8, maxWaitMs: 1000 });
  const lines: string[] = [];
  const records: RunningDetector['records'] = [];
  const handlers = createDetectService({
    batcher,
    modelInfo: info,
    limits: { maxPixels: 64 * 64, maxBytes: 1 << 20, maxImagesPerRequest: 4, maxTopK: 50, maxKeepTopK: 20, ...over.limits },
    pixels,
    memoryWaitMs: over.memoryWaitMs ?? 1000,
    decoder: new Limiter(2),
    ...(over.decodeSize ? { decodeSize: over.decodeSize } : {}),
    log: createLogger('detect-service-test', 'warn', (line) => lines.push(line)),
    record: (code, images) => records.push({ code, images }),
  });
  const cancelled: string[][] = [];
  const server = new grpc.Server();
  // The service as it is, plus a note of each call the server sees cancelled.
  const Detect: DetectorHandlers['Detect'] = (call, callback) => {
    call.once('cancelled', () => cancelled.push(call.request.images.map((i) => i.id)));
    handlers.Detect(call, callback);
  };
  server.addService(Detector.service, { ...handlers, Detect });
  const port = await bindServer(server, '127.0.0.1:0');
  const client = new Detector(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  closers.push(() => (client.close(), server.forceShutdown()));
  return { client, batcher, pixels, runs, records, log: lines, cancelled };
}

/** A raw image of one colour; its first byte (the red of its first pixel) identifies it in `runs`. */
function raw(id: string, width: number, height: number, rgb: [number, number, number], format: 'RGB8' | 'BGR8' = 'RGB8') {
  const data = Buffer.alloc(width * height * 3);
  for (let i = 0; i < data.length; i += 3) data.set(rgb, i);
  return { id, raw: { width, height, format, data } };
}

const black = (id: string, marker = 0) => raw(id, 20, 10, [marker, 0, 0]);
const red = (id: string) => raw(id, 8, 8, [255, 0, 0]);

const detect = (d: RunningDetector, request: DetectRequestInit, deadlineMs = 20_000) =>
  unary<DetectResponse>((done) => d.client.Detect(request, new grpc.Metadata(), { deadline: Date.now() + deadlineMs }, done));

const statuses = (response: DetectResponse) => response.results.map((r) => [r.id, r.status!.code, r.status!.message]);
const labels = (response: DetectResponse) => response.results.map((r) => r.detections.map((d) => d.label));


describe('Detect', () => {
  it('answers every image in request order with its id, size and detections, and names the model', async () => {
    const d = await startDetector();
    const response = await detect(d, { images: [black('dark'), red('bright')] });
    expect(response.model).toBe('tiny-ssd');
    expect(statuses(response)).toEqual([
      ['dark', grpc.status.OK, ''],
      ['bright', grpc.status.OK, ''],
    ]);
    expect(response.results.map((r) => [r.width, r.height])).toEqual([
      [20, 10],
      [8, 8],
    ]);
    expect(labels(response)).toEqual([
      ['cat', 'dog'],
      ['dog', 'cat'],
    ]);
    const cat = response.results[0]!.detections[0]!;
    expect(cat).toMatchObject({ classId: 1, label: 'cat' });
    expect(cat.score).toBeCloseTo(0.7, 5);
    const [xmin, ymin, xmax, ymax] = PRIOR_BOX;
    expect(cat.box!.xmin).toBeCloseTo(xmin, 5);
    expect(cat.box!.ymax).toBeCloseTo(ymax, 5);
    // The pixel box is the box scaled to the image (20x10).
    expect(cat.pixelBox!.xmin).toBeCloseTo(xmin * 20, 4);
    expect(cat.pixelBox!.ymin).toBeCloseTo(ymin * 10, 4);
    expect(cat.pixelBox!.xmax).toBeCloseTo(xmax * 20, 4);
    expect(cat.pixelBox!.ymax).toBeCloseTo(ymax * 10, 4);
    expect(d.records).toEqual([{ code: grpc.status.OK, images: [grpc.status.OK, grpc.status.OK] }]);
    expect(d.pixels.inUse).toBe(0);
  });

  it('reads raw BGR8 pixels in BGR order', async () => {
    const d = await startDetector();
    // Red written as BGR: (0, 0, 255). Read as RGB it would be blue, and the model would say cat.
    const response = await detect(d, { images: [raw('bgr-red', 8, 8, [0, 0, 255], 'BGR8'), raw('rgb-blue', 8, 8, [0, 0, 255], 'RGB8')] });
    expect(labels(response).map((l) => l[0])).toEqual(['dog', 'cat']);
  });

  it('applies the request options to each image, 0 and empty meaning the model defaults', async () => {
    const d = await startDetector();
    const ask = async (options: DetectRequestInit['options']) => labels(await detect(d, { images: [black('b')], options }))[0];
    expect(await ask({})).toEqual(['cat', 'dog']);
    expect(await ask({ scoreThreshold: 0, iouThreshold: 0, topK: 0, keepTopK: 0, classIds: [] })).toEqual(['cat', 'dog']);
    expect(await ask({ classIds: [2] })).toEqual(['dog']);
    expect(await ask({ scoreThreshold: 0.5 })).toEqual(['cat']);
    expect(await ask({ keepTopK: 1 })).toEqual(['cat']);
  });

  it('refuses more images than the limit with INVALID_ARGUMENT, before running any', async () => {
    const d = await startDetector();
    const images = ['a', 'b', 'c', 'd', 'e'].map((id) => black(id));
    await expect(detect(d, { images })).rejects.toMatchObject({ code: grpc.status.INVALID_ARGUMENT, details: 'request has 5 images; the limit is 4' });
    expect(d.runs).toEqual([]);
    expect(d.records).toEqual([{ code: grpc.status.INVALID_ARGUMENT, images: [] }]);
  });

  it('refuses invalid options with INVALID_ARGUMENT and the option\'s own message, checking class ids against the model', async () => {
    const d = await startDetector();
    const refused = (options: DetectRequestInit['options']) => detect(d, { images: [black('b')], options });
    await expect(refused({ classIds: [1, 3] })).rejects.toMatchObject({ code: grpc.status.INVALID_ARGUMENT, details: 'class_ids contains 3, but the model has 3 classes' });
    await expect(refused({ classIds: [1, 1, 1, 1] })).rejects.toMatchObject({ code: grpc.status.INVALID_ARGUMENT, details: 'class_ids has 4 entries, but the model has 3 classes' });
    await expect(refused({ topK: 51 })).rejects.toMatchObject({ code: grpc.status.INVALID_ARGUMENT, details: 'top_k must be at most 50, got 51' });
    await expect(refused({ keepTopK: 21 })).rejects.toMatchObject({ code: grpc.status.INVALID_ARGUMENT, details: 'keep_top_k must be at most 20, got 21' });
    await expect(refused({ scoreThreshold: 1 })).rejects.toMatchObject({ code: grpc.status.INVALID_ARGUMENT, details: 'score_threshold must be in [0, 1), got 1' });
    await expect(refused({ iouThreshold: 1.5 })).rejects.toMatchObject({ code: grpc.status.INVALID_ARGUMENT, details: 'iou_threshold must be in [0, 1], got 1.5' });
    expect(d.runs).toEqual([]);
  });

  it('answers a bad image alone with INVALID_ARGUMENT and why, and serves the others', async () => {
    const d = await startDetector();
    const pngHeaderThenJunk = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), Buffer.from('not really a png at all')]);
    const answer = await detect(d, {
      images: [
        { id: 'text', encoded: Buffer.from('hello') },
        { id: 'short', raw: { width: 2, height: 2, format: 'RGB8', data: Buffer.alloc(5) } },
        black('fine', 7),
        { id: 'broken-png', encoded: pngHeaderThenJunk },
      ],
    });
    expect(statuses(answer).slice(0, 3)).toEqual([
      ['text', grpc.status.INVALID_ARGUMENT, 'unsupported or corrupt image: expected JPEG, PNG or WebP data'],
      ['short', grpc.status.INVALID_ARGUMENT, 'raw image data has 5 bytes, expected 12 (2x2x3)'],
      ['fine', grpc.status.OK, ''],
    ]);
    const [id, code, message] = statuses(answer)[3]!;
    expect([id, code]).toEqual(['broken-png', grpc.status.INVALID_ARGUMENT]);
    // The decoder's reason, first line only.
    expect(message).toMatch(/^cannot decode png image: [^\n]+$/);
    const noFormat = await detect(d, { images: [{ id: 'no-format', raw: { width: 1, height: 1, data: Buffer.alloc(3) } }] });
    expect(statuses(noFormat)).toEqual([['no-format', grpc.status.INVALID_ARGUMENT, 'raw image pixel format must be RGB8 or BGR8']]);
    // Only the good image was run.
    expect(d.runs).toEqual([[7]]);
    expect(d.pixels.inUse).toBe(0);
  });

  it('answers an image over the pixel limit alone with RESOURCE_EXHAUSTED', async () => {
    const d = await startDetector();
    const response = await detect(d, { images: [raw('huge', 100, 100, [0, 0, 0]), black('fine', 9)] });
    expect(statuses(response)).toEqual([
      ['huge', grpc.status.RESOURCE_EXHAUSTED, 'raw image 100x100 exceeds the 4096-pixel limit'],
      ['fine', grpc.status.OK, ''],
    ]);
    expect(d.runs).toEqual([[9]]);
  });

  it('answers an image larger than the whole pixel budget alone with RESOURCE_EXHAUSTED', async () => {
    const d = await startDetector({ pixelBytes: 1000 });
    // 20x20x3 = 1200 bytes decoded: it could never fit; 20x10x3 = 600 does.
    const response = await detect(d, { images: [raw('big', 20, 20, [0, 0, 0]), black('fine', 5)] });
    expect(statuses(response)[0]!.slice(0, 2)).toEqual(['big', grpc.status.RESOURCE_EXHAUSTED]);
    expect(statuses(response)[0]![2]).toMatch(/^image 20x20 needs .* more than the whole detector pixel budget/);
    expect(statuses(response)[1]).toEqual(['fine', grpc.status.OK, '']);
    expect(d.runs).toEqual([[5]]);
    expect(d.pixels.inUse).toBe(0);
  });

  it('fails the request RESOURCE_EXHAUSTED when the pixel budget stays full for its longest wait', async () => {
    const d = await startDetector({ pixelBytes: 1000, memoryWaitMs: 50 });
    const held = d.pixels.tryAcquire(1000)!;
    await expect(detect(d, { images: [black('waits')] })).rejects.toMatchObject({ code: grpc.status.RESOURCE_EXHAUSTED, details: expect.stringMatching(/^detector pixel budget of .* is in use/) });
    held.release();
    expect(d.runs).toEqual([]);
    expect(d.pixels.inUse).toBe(0);
  });

  it('refuses a request that does not fit the queue with RESOURCE_EXHAUSTED, running none of it', async () => {
    const d = await startDetector({ batcher: { maxQueue: 2 } });
    await expect(detect(d, { images: [black('a'), black('b'), black('c')] })).rejects.toMatchObject({
      code: grpc.status.RESOURCE_EXHAUSTED,
      details: 'detector queue is full (0 of 2 images waiting or being decoded)',
    });
    expect(d.runs).toEqual([]);
    // Two fit.
    expect(statuses(await detect(d, { images: [black('a'), black('b')] })).map((s) => s[1])).toEqual([0, 0]);
  });

  it('refuses new requests with UNAVAILABLE once the detector is draining', async () => {
    const d = await startDetector();
    await d.batcher.drain();
    await expect(detect(d, { images: [black('late')] })).rejects.toMatchObject({ code: grpc.status.UNAVAILABLE, details: 'detector is shutting down' });
  });

  it('answers an image whose run fails INTERNAL "inference failed", keeping the runtime\'s words in the log only', async () => {
    const poison = 13;
    const d = await startDetector({
      runner: (run) => async (items) => {
        if (items.some((i) => i.image.data[0] === poison)) throw new Error('/srv/models/secret.onnx: Non-zero status code returned while running Conv node');
        return run(items);
      },
    });
    const response = await detect(d, { images: [black('a', 1), black('poison', poison), black('c', 3)] });
    expect(statuses(response)).toEqual([
      ['a', grpc.status.OK, ''],
      ['poison', grpc.status.INTERNAL, 'inference failed'],
      ['c', grpc.status.OK, ''],
    ]);
    expect(JSON.stringify(response)).not.toMatch(/secret|Conv node|srv/);
    expect(d.log.some((line) => line.includes('inference failed') && line.includes('secret.onnx'))).toBe(true);
    expect(d.records).toEqual([{ code: grpc.status.OK, images: [grpc.status.OK, grpc.status.INTERNAL, grpc.status.OK] }]);
    expect(d.pixels.inUse).toBe(0);
  });

  it('in the fast image path, runs an image larger than the input at the input size and still answers in the sent image\'s pixels', async () => {
    const sizes: Array<[number, number]> = [];
    const d = await startDetector({
      decodeSize: (probe) => fastDecodeSize(probe, TINY_SPEC.input),
      runner: (run) => (items) => (sizes.push(...items.map((i): [number, number] => [i.image.width, i.image.height])), run(items)),
    });
    const big = await sharp({ create: { width: 40, height: 20, channels: 3, background: { r: 255, g: 0, b: 0 } } }).jpeg().toBuffer();
    // EXIF orientation 6: a viewer shows it 20 wide and 40 high.
    const rotated = await sharp({ create: { width: 40, height: 20, channels: 3, background: { r: 255, g: 0, b: 0 } } }).jpeg().withMetadata({ orientation: 6 }).toBuffer();
    const small = await sharp({ create: { width: 6, height: 6, channels: 3, background: { r: 255, g: 0, b: 0 } } }).jpeg().toBuffer();
    const response = await detect(d, { images: [{ id: 'big', encoded: big }, { id: 'rotated', encoded: rotated }, { id: 'small', encoded: small }] });
    expect(statuses(response).map(([, code]) => code)).toEqual([grpc.status.OK, grpc.status.OK, grpc.status.OK]);
    // An image to be enlarged is decoded whole and resized exactly. (Images decode concurrently,
    // so runs see them in any order.)
    expect(sizes.map(String).sort()).toEqual(['6,6', '8,8', '8,8']);
    expect(response.results.map((r) => [r.width, r.height])).toEqual([[40, 20], [20, 40], [6, 6]]);
    const box = response.results[0]!.detections[0]!;
    expect(box.pixelBox!.xmax).toBeCloseTo(box.box!.xmax * 40, 4);
    expect(box.pixelBox!.ymax).toBeCloseTo(box.box!.ymax * 20, 4);
  });

  it('never runs the queued images of a request whose client cancelled, and gives their pixels back', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const d = await startDetector({
      runner: (run) => async (items) => {
        await gate;
        return run(items);
      },
    });
    // The first request holds the only runner; the second queues behind it.
    const first = detect(d, { images: [black('first', 1)] });
    await until(() => d.runs.length === 0 && d.batcher.inFlight === 1, 'the first request is running');
    const second = d.client.Detect({ images: [black('x', 2), black('y', 3)] }, new grpc.Metadata(), { deadline: Date.now() + 20_000 }, () => undefined);
    await until(() => d.batcher.queued === 2, 'the second request is queued');
    second.cancel();
    await until(() => d.cancelled.length === 1, 'the server sees the cancellation');
    release();
    expect(statuses(await first)).toEqual([['first', grpc.status.OK, '']]);
    await until(() => d.records.length === 2, 'both calls are over');
    expect(d.runs).toEqual([[1]]);
    expect(d.records.find((r) => r.code !== grpc.status.OK)?.code).toBe(grpc.status.CANCELLED);
    expect(d.pixels.inUse).toBe(0);
  });
});

describe('GetModelInfo', () => {
  it('answers what the loaded model is: spec name, file sha256, input size, labels, bn_fused, prior count', async () => {
    const d = await startDetector();
    const answer = await unary<ModelInfo>((done) => d.client.GetModelInfo({}, new grpc.Metadata(), { deadline: Date.now() + 10_000 }, done));
    expect(answer).toEqual({
      name: 'tiny-ssd',
      sha256: createHash('sha256').update(readFileSync(modelPath)).digest('hex'),
      inputWidth: 8,
      inputHeight: 8,
      labels: ['background', 'cat', 'dog'],
      bnFused: true,
      numPriors: 1,
      precision: 'fp32',
    });
  });
});
