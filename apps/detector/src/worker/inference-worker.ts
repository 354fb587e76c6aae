// A Piscina worker: a thin adapter over one SsdSession, created and warmed up when the worker
// starts and kept for the worker's whole life (re-creating sessions leaks native memory, and
// re-loading the addon in a fresh thread is fragile).
import { parentPort, threadId, workerData } from 'node:worker_threads';
import { COLLECT_AFTER_BYTES, collectYoung } from '@edge-ssd/service-kit';
import { SsdSession } from '@edge-ssd/ssd-pipeline';
import { SESSION_READY, type InferenceResult, type InferenceTask, type WorkerSettings } from './protocol';
import { RunGate } from './run-gate';

const EMPTY = new Uint8Array(0);

async function createHandler(settings: WorkerSettings): Promise<(task: InferenceTask) => Promise<InferenceResult>> {
  const session = await SsdSession.create(settings.modelPath, settings.spec, { intraOpThreads: settings.intraOpThreads, spinning: settings.ortSpinning, maxBatch: settings.maxBatch });
  parentPort?.postMessage({ [SESSION_READY]: threadId });
  const gate = settings.runGate ? new RunGate(settings.runGate) : undefined;
  return async (task) => {
    session.stage(task.items);
    // The pixels are in the tensor: drop this thread's references and free them now rather than
    // at its next collection, which a heap this small would make rare.
    let pixelBytes = 0;
    for (const item of task.items) {
      pixelBytes += item.image.data.byteLength;
      item.image.data = EMPTY;
    }
    if (pixelBytes >= COLLECT_AFTER_BYTES) collectYoung();
    return session.infer(gate && ((run) => gate.exclusive(run)));
  };
}

export = createHandler(workerData as WorkerSettings);
