// The inference pool with real workers and the real model behind the dynamic batcher: a run that
// fails in a worker loses no image. (A worker thread killed in the middle of an onnxruntime run
// takes the whole process down with it, in native code; that failure is the gateway's to absorb,
// by retrying on another detector: e2e/test/gateway.e2e.test.ts kills detectors mid-load.)
import { execFileSync } from 'node:child_process';
import * as path from 'node:path';
import type { Detection } from '@edge-ssd/ssd-core';
import { MOBILENET_SSD_VOC_300 } from '@edge-ssd/ssd-core';
import { DynamicBatcher } from '../src/batching/dynamic-batcher';
import { InferencePool } from '../src/worker/pool';
import type { InferenceItem } from '../src/worker/protocol';

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
