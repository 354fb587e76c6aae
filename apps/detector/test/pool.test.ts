// The inference pool with real workers and the real model behind the dynamic batcher: a run that
// fails in a worker loses no image. (A worker thread killed in the middle of an onnxruntime run
// takes the whole process down with it, in native code; that failure is the gateway's to absorb,
// by retrying on another detector: e2e/test/gateway.e2e.test.ts kills detectors mid-load.)
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import type { Detection } from '@edge-ssd/ssd-core';
import { MOBILENET_SSD_VOC_300 } from '@edge-ssd/ssd-core';
import { SsdSession } from '@edge-ssd/ssd-pipeline';
import { DynamicBatcher } from '../src/batching/dynamic-batcher';
import { InferencePool } from '../src/worker/pool';
import type { InferenceItem, WorkerSettings } from '../src/worker/protocol';
import { PRIOR_BOX, solidImage, TINY_SPEC, writeTinySsdModel } from '@edge-ssd/ssd-pipeline/testing';

const MODEL = path.resolve(__dirname, '..', '..', '..', 'models', 'mobilenet-ssd-voc-300.onnx');
const open = { deadline: Infinity, isCancelled: () => false };

function image(seed: number): InferenceItem {
  const data = new Uint8Array(300 * 200 * 3);
  for (let i = 0; i < data.length; i++) data[i] = (i * 7 + seed * 31) % 251;
  return { image: { data, width: 300, height: 200, order: 'RGB' }, options: { scoreThreshold: 0.01 } };
}

let pool: InferencePool;
beforeAll(async () => {
  // The model is made by `model prepare` (the e2e tests and npm start do it; see apps/model-cli).
  execFileSync(process.execPath, [path.resolve(__dirname, '..', '..', 'model-cli', 'dist', 'main.js'), 'prepare', 'mobilenet-ssd-voc-300', '--dir', path.dirname(MODEL)]);
  pool = new InferencePool({ modelPath: MODEL, spec: MOBILENET_SSD_VOC_300, intraOpThreads: 1, ortSpinning: false, maxBatch: 4 }, 2);
  await pool.ready();
}, 120_000);

afterAll(async () => {
  await pool?.close();
});

describe('inference pool', () => {
  it('isolates a poison image: the batch runs again, then image by image, and only that image fails', async () => {
    const reruns: string[] = [];
    const batcher = new DynamicBatcher<InferenceItem, Detection[]>({ maxBatch: 4, maxQueueDelayMs: 0, maxQueue: 64, concurrency: 1 }, (items) => pool.run(items), {
      rerun: (mode) => reruns.push(mode),
    });
    const reference = await Promise.all(batcher.submit([0, 1, 2, 3].map(image), open));
    expect(reference.map((d) => d.length)).toEqual([100, 100, 100, 100]);
    // An image whose pixels do not match its size makes the worker's run throw.
    const poison = image(9);
    poison.image.width = 301;
    const answers = await Promise.allSettled(batcher.submit([image(0), image(1), poison, image(3)], open));
    expect(answers.map((a) => a.status)).toEqual(['fulfilled', 'fulfilled', 'rejected', 'fulfilled']);
    expect(answers.filter((a) => a.status === 'fulfilled').map((a) => (a as PromiseFulfilledResult<Detection[]>).value)).toEqual([reference[0], reference[1], reference[3]]);
    expect((answers[2] as PromiseRejectedResult).reason.message).toMatch(/image data has 180000 bytes, expected 180600/);
    expect(reruns).toEqual(['whole', 'single', 'single', 'single', 'single']);
  }, 120_000);
});

// The same pool over a tiny generated model (test/support/tiny-ssd.ts): fast enough to start a
// pool per test, and its answers tell the images of a batch apart.
describe('inference pool over a tiny model', () => {
  let dir: string;
  let model: string;
  const pools: InferencePool[] = [];
  const settings = (over: Partial<WorkerSettings> = {}): WorkerSettings => ({ modelPath: model, spec: TINY_SPEC, intraOpThreads: 1, ortSpinning: false, maxBatch: 4, ...over });
  const start = (over: Partial<WorkerSettings> = {}, size = 2): InferencePool => {
    const p = new InferencePool(settings(over), size);
    pools.push(p);
    return p;
  };
  const black = (options = {}): InferenceItem => ({ image: solidImage(20, 10, [0, 0, 0]), options });
  const red = (options = {}): InferenceItem => ({ image: solidImage(8, 8, [255, 0, 0]), options });

  beforeAll(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'detector-pool-'));
    model = writeTinySsdModel(dir, 'tiny.onnx');
  });
  afterEach(async () => {
    await Promise.all(pools.splice(0).map((p) => p.close()));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('answers each image of a run in order, with its own options, as the same session in this thread does', async () => {
    const pool = start();
    await pool.ready();
    const items = [black(), red(), black({ classIds: [2] }), red({ scoreThreshold: 0.5 })];
    const answers = await pool.run(items);
    const session = await SsdSession.create(model, TINY_SPEC, { intraOpThreads: 1, maxBatch: 4 });
    try {
      expect(answers).toEqual(await session.run(items));
    } finally {
      await session.release();
    }
    expect(answers.map((detections) => detections.map((d) => d.label))).toEqual([['cat', 'dog'], ['dog', 'cat'], ['dog'], ['dog']]);
    expect(answers[0]![0]!.score).toBeCloseTo(0.7, 5);
    expect(answers[0]![0]!.xmin).toBeCloseTo(PRIOR_BOX[0], 5);
    expect(answers[0]![0]!.ymax).toBeCloseTo(PRIOR_BOX[3], 5);
  });

  it('leaves the caller its pixels: a run can be run again and answers the same', async () => {
    const pool = start({}, 1);
    await pool.ready();
    const items = [red(), black()];
    const first = await pool.run(items);
    expect(items.map((i) => i.image.data.byteLength)).toEqual([8 * 8 * 3, 20 * 10 * 3]);
    expect(items[0]!.image.data.subarray(0, 3)).toEqual(new Uint8Array([255, 0, 0]));
    expect(await pool.run(items)).toEqual(first);
  });

  it('rejects a run of more images than maxBatch with the session\'s reason', async () => {
    const pool = start({ maxBatch: 2 }, 1);
    await pool.ready();
    await expect(pool.run([black(), black(), black()])).rejects.toThrow('run has 3 images, more than maxBatch 2');
    // The worker is still there for the next run.
    expect(await pool.run([red()])).toHaveLength(1);
  });

  it('fails ready() when a worker cannot load the model file', async () => {
    const bad = path.join(dir, 'not-a-model.onnx');
    writeFileSync(bad, 'not an onnx model');
    await expect(start({ modelPath: bad }, 1).ready()).rejects.toThrow(/not-a-model\.onnx/);
  });

  it('fails ready() when the spec names an input the model does not have (the warm-up run fails)', async () => {
    await expect(start({ spec: { ...TINY_SPEC, input: { ...TINY_SPEC.input, name: 'data' } } }, 1).ready()).rejects.toThrow("input 'images' is missing in 'feeds'");
  });

  it('survives the failures of the workers Piscina starts in place of failed ones, and keeps reporting the first', async () => {
    // Piscina emits 'error' for each failed worker and again for each replacement; an 'error'
    // nobody listens to would crash this process (and a detector), failing the test run.
    const bad = path.join(dir, 'still-not-a-model.onnx');
    writeFileSync(bad, 'not an onnx model');
    const failing = start({ modelPath: bad }, 2);
    await expect(failing.ready()).rejects.toThrow(/still-not-a-model\.onnx/);
    await new Promise((resolve) => setTimeout(resolve, 2000));
    await expect(failing.ready()).rejects.toThrow(/still-not-a-model\.onnx/);
  });

  it('refuses runs after close() instead of starting a new worker', async () => {
    const closing = start({}, 1);
    await closing.ready();
    await closing.close();
    await expect(closing.run([black()])).rejects.toThrow('inference pool is closed');
  });
});
