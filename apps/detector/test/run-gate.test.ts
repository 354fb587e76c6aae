// The run gate across real threads: workers that each want to run at once get at most the gate's
// number of runs together, and every run happens.
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { createRunGate } from '../src/worker/run-gate';

// Workers run compiled JavaScript (the build output, as the pool's workers do).
const GATE_JS = path.resolve(__dirname, '..', 'dist', 'worker', 'run-gate.js');

const WORKER = `
const { workerData, parentPort } = require('node:worker_threads');
const { RunGate } = require(workerData.gateJs);
const gate = new RunGate(workerData.gate);
const counters = new Int32Array(workerData.counters); // [running now, most at once, runs done]
(async () => {
  for (let i = 0; i < workerData.runs; i++) {
    await gate.exclusive(async () => {
      const now = Atomics.add(counters, 0, 1) + 1;
      for (let most = Atomics.load(counters, 1); now > most; most = Atomics.load(counters, 1)) Atomics.compareExchange(counters, 1, most, now);
      await new Promise((resolve) => setTimeout(resolve, 5));
      Atomics.sub(counters, 0, 1);
      Atomics.add(counters, 2, 1);
    });
  }
  parentPort.postMessage('done');
})();
`;

async function contend(permits: number, workers: number, runs: number): Promise<{ most: number; done: number }> {
  const gate = createRunGate(permits);
  const counters = new SharedArrayBuffer(3 * Int32Array.BYTES_PER_ELEMENT);
  await Promise.all(
    Array.from({ length: workers }, () => {
      const worker = new Worker(WORKER, { eval: true, workerData: { gateJs: GATE_JS, gate, counters, runs } });
      return new Promise<void>((resolve, reject) => {
        worker.once('message', () => void worker.terminate().then(() => resolve()));
        worker.once('error', reject);
      });
    }),
  );
  const view = new Int32Array(counters);
  return { most: view[1]!, done: view[2]! };
}

describe('run gate', () => {
  it('lets one run at a time through when it has one, across threads, and loses none', async () => {
    expect(await contend(1, 3, 10)).toEqual({ most: 1, done: 30 });
  });

  it('lets as many runs at once as it has, no more', async () => {
    expect(await contend(2, 4, 10)).toEqual({ most: 2, done: 40 });
  });
});
