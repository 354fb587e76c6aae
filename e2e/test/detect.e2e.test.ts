import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import sharp from 'sharp';
import { loadSsdPackage, type DetectRequestInit, type DetectResponse, type ImageResult } from '@edge-ssd/protos';
import { builtinModel, detectCall, modelInfoOf, REPO_ROOT, startService, type RunningService, type SsdClient } from '../src';

const VOC = ['background', 'aeroplane', 'bicycle', 'bird', 'boat', 'bottle', 'bus', 'car', 'cat', 'chair', 'cow',
  'diningtable', 'dog', 'horse', 'motorbike', 'person', 'pottedplant', 'sheep', 'sofa', 'train', 'tvmonitor'];

let detector: RunningService;
let gateway: RunningService;
let client: SsdClient;

// A synthetic "scene": smooth gradients plus a few solid shapes, so the image has structure
// at every scale the network looks at.
async function scene(width: number, height: number, seed: number): Promise<sharp.Sharp> {
  const shapes = [0, 1, 2].map((k) => {
    const x = ((seed * 37 + k * 101) % 60) + 10;
    const y = ((seed * 53 + k * 67) % 50) + 10;
    const r = 10 + ((seed + k * 13) % 20);
    const colour = ['#c83232', '#32a852', '#3260c8'][k];
    return `<circle cx="${x}%" cy="${y}%" r="${r}%" fill="${colour}"/>`;
  });
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">
    <defs><linearGradient id="g" x1="0" y1="0" x2="1" y2="1"><stop offset="0" stop-color="#${(seed * 999999).toString(16).slice(-6).padStart(6, '8')}"/><stop offset="1" stop-color="#202020"/></linearGradient></defs>
    <rect width="100%" height="100%" fill="url(#g)"/>${shapes.join('')}</svg>`;
  return sharp(Buffer.from(svg));
}

function expectWellFormed(result: ImageResult, width: number, height: number, threshold = 0.25): void {
  expect(result.status).toEqual({ code: grpc.status.OK, message: '' });
  expect([result.width, result.height]).toEqual([width, height]);
  for (const d of result.detections) {
    expect(VOC).toContain(d.label);
    expect(d.label).toBe(VOC[d.classId]);
    expect(d.classId).not.toBe(0);
    expect(d.score).toBeGreaterThan(threshold);
    expect(d.score).toBeLessThanOrEqual(1);
    for (const v of [d.box!.xmin, d.box!.ymin, d.box!.xmax, d.box!.ymax]) expect(Number.isFinite(v)).toBe(true);
    expect(d.pixelBox!.xmin).toBeCloseTo(d.box!.xmin * width, 2);
    expect(d.pixelBox!.ymax).toBeCloseTo(d.box!.ymax * height, 2);
  }
  const scores = result.detections.map((d) => d.score);
  expect(scores).toEqual([...scores].sort((a, b) => b - a));
}

function detect(request: DetectRequestInit): Promise<DetectResponse> {
  return detectCall(client, request);
}

beforeAll(async () => {
  detector = await startService('detector', { MODEL_PATH: await builtinModel('mobilenet-ssd-voc-300'), DETECTOR_POOL_SIZE: '2', DETECTOR_MAX_BATCH: '4' });
  gateway = await startService('gateway', { DETECTOR_TARGET: `127.0.0.1:${detector.port}` });
  client = new (loadSsdPackage().Gateway)(`127.0.0.1:${gateway.port}`, grpc.credentials.createInsecure());
}, 300_000);

afterAll(async () => {
  client?.close();
  // Both must stop cleanly on SIGTERM: that is how Kubernetes stops them.
  expect(await gateway?.stop()).toBe(0);
  expect(await detector?.stop()).toBe(0);
});

describe('client -> gateway -> detector -> fused MobileNet-SSD', () => {
  it('reports the served model: the fused default MobileNet-SSD, hashed as stored on disk', async () => {
    const info = await modelInfoOf(client);
    const bytes = await readFile(path.join(REPO_ROOT, 'models', 'mobilenet-ssd-voc-300.onnx'));
    expect(info).toEqual({
      name: 'mobilenet-ssd-voc-300',
      sha256: createHash('sha256').update(bytes).digest('hex'),
      inputWidth: 300,
      inputHeight: 300,
      labels: VOC,
      bnFused: true,
      numPriors: 1917,
      precision: 'fp32',
    });
  });

  it('answers a mixed batch in request order, with a per-image error for a corrupt image only', async () => {
    const jpeg = await (await scene(640, 480, 1)).jpeg().toBuffer();
    const png = await (await scene(300, 200, 2)).ensureAlpha(0.5).png().toBuffer();
    const webp = await (await scene(200, 400, 3)).webp().toBuffer();
    const grey = await (await scene(1000, 750, 4)).greyscale().png().toBuffer();
    const raw = await (await scene(64, 48, 5)).removeAlpha().raw().toBuffer();
    const truncated = jpeg.subarray(0, Math.floor(jpeg.length / 3));
    const garbage = Buffer.from('this is not an image at all');
    const request: DetectRequestInit = {
      images: [
        { id: 'a.jpg', encoded: jpeg },
        { id: 'b.png', encoded: png },
        { id: 'corrupt', encoded: garbage },
        { id: 'c.webp', encoded: webp },
        { id: 'raw', raw: { width: 64, height: 48, format: 'RGB8', data: raw } },
        { id: 'grey.png', encoded: grey },
        { id: 'truncated.jpg', encoded: truncated },
        { id: 'short-raw', raw: { width: 64, height: 48, format: 'RGB8', data: raw.subarray(1) } },
      ],
    };
    const response = await detect(request);
    expect(response.model).toBe('mobilenet-ssd-voc-300');
    expect(response.results.map((r) => r.id)).toEqual(request.images!.map((i) => i.id));
    const [a, b, corrupt, c, rawResult, greyResult, truncatedResult, shortRaw] = response.results;
    expectWellFormed(a!, 640, 480);
    expectWellFormed(b!, 300, 200);
    expectWellFormed(c!, 200, 400);
    expectWellFormed(rawResult!, 64, 48);
    expectWellFormed(greyResult!, 1000, 750);
    for (const bad of [corrupt!, truncatedResult!, shortRaw!]) {
      expect(bad.status!.code).toBe(grpc.status.INVALID_ARGUMENT);
      expect(bad.status!.message).not.toBe('');
      expect(bad.detections).toEqual([]);
    }
    expect(shortRaw!.status!.message).toMatch(/expected 9216/);
    // The seeded model is no trained detector, but it must still produce detections for the
    // path to prove anything.
    const total = [a, b, c, rawResult, greyResult].reduce((n, r) => n + r!.detections.length, 0);
    expect(total).toBeGreaterThan(0);
  });

  it('gives the same detections for the same pixels sent as PNG, raw RGB and raw BGR', async () => {
    const rgb = await (await scene(320, 240, 6)).removeAlpha().raw().toBuffer();
    const png = await sharp(rgb, { raw: { width: 320, height: 240, channels: 3 } }).png().toBuffer();
    const bgr = Buffer.alloc(rgb.length);
    for (let i = 0; i < rgb.length; i += 3) {
      bgr[i] = rgb[i + 2]!;
      bgr[i + 1] = rgb[i + 1]!;
      bgr[i + 2] = rgb[i]!;
    }
    const response = await detect({
      images: [
        { id: 'png', encoded: png },
        { id: 'rgb', raw: { width: 320, height: 240, format: 'RGB8', data: rgb } },
        { id: 'bgr', raw: { width: 320, height: 240, format: 'BGR8', data: bgr } },
      ],
      options: { scoreThreshold: 0.05 },
    });
    const [fromPng, fromRgb, fromBgr] = response.results.map((r) => r.detections);
    expect(fromPng!.length).toBeGreaterThan(0);
    expect(fromRgb).toEqual(fromPng);
    expect(fromBgr).toEqual(fromPng);
  });

  it('applies request options: a higher threshold and a class filter only remove detections', async () => {
    const jpeg = await (await scene(640, 480, 7)).jpeg().toBuffer();
    const loose = (await detect({ images: [{ id: 'x', encoded: jpeg }], options: { scoreThreshold: 0.05 } })).results[0]!;
    expect(loose.detections.length).toBeGreaterThan(1);
    const strict = (await detect({ images: [{ id: 'x', encoded: jpeg }], options: { scoreThreshold: 0.3 } })).results[0]!;
    expectWellFormed(strict, 640, 480, 0.3);
    expect(strict.detections).toEqual(loose.detections.filter((d) => d.score > 0.3));
    const classId = loose.detections[0]!.classId;
    const filtered = (await detect({ images: [{ id: 'x', encoded: jpeg }], options: { scoreThreshold: 0.05, classIds: [classId] } })).results[0]!;
    expect(filtered.detections.length).toBeGreaterThan(0);
    expect(filtered.detections.every((d) => d.classId === classId)).toBe(true);
  });

  it('rejects invalid options for the whole call with INVALID_ARGUMENT', async () => {
    await expect(detect({ images: [], options: { scoreThreshold: 1.5 } })).rejects.toMatchObject({ code: grpc.status.INVALID_ARGUMENT });
    await expect(detect({ images: [], options: { classIds: [21] } })).rejects.toMatchObject({ code: grpc.status.INVALID_ARGUMENT });
  });

  it('serves a batch larger than one session run, split across workers, in order', async () => {
    const images = await Promise.all(
      Array.from({ length: 11 }, async (_, i) => ({ id: `img-${i}`, encoded: await (await scene(160 + i * 10, 120, 20 + i)).jpeg().toBuffer() })),
    );
    const single = await Promise.all(images.map(async (image) => (await detect({ images: [image] })).results[0]!));
    const batched = (await detect({ images })).results;
    expect(batched.map((r) => r.id)).toEqual(images.map((i) => i.id));
    expect(batched).toEqual(single);
  });

  it('prints the detections as JSON and annotates copies with the CLI client', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'edge-ssd-cli-'));
    try {
      const file = path.join(dir, 'street.jpg');
      await writeFile(file, await (await scene(640, 480, 1)).jpeg().toBuffer());
      const { stdout } = await promisify(execFile)(
        process.execPath,
        [path.join(REPO_ROOT, 'apps/client/dist/main.js'), '--target', `127.0.0.1:${gateway.port}`, '--annotate', path.join(dir, 'out'), file],
      );
      const response = JSON.parse(stdout) as DetectResponse;
      expect(response.results).toHaveLength(1);
      expectWellFormed(response.results[0]!, 640, 480);
      const annotated = await sharp(path.join(dir, 'out', 'street.jpg')).metadata();
      expect([annotated.format, annotated.width, annotated.height]).toEqual(['jpeg', 640, 480]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
