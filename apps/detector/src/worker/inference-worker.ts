// A Piscina worker: one onnxruntime session, created and warmed up when the worker starts and
// kept for the worker's whole life (re-creating sessions leaks native memory, and re-loading
// the addon in a fresh thread is fragile). Each task preprocesses its images straight into a
// reused batch tensor, runs the session once and post-processes with ssd-core.
import { parentPort, threadId, workerData } from 'node:worker_threads';
import * as ort from 'onnxruntime-node';
import { SsdPostprocessor } from '@edge-ssd/ssd-core';
import { COLLECT_AFTER_BYTES, collectYoung } from '@edge-ssd/service-kit';
import { inputToImageScale, preprocessInto } from './preprocess';
import { SESSION_READY, type InferenceResult, type InferenceTask, type WorkerSettings } from './protocol';

const EMPTY = new Uint8Array(0);

async function createHandler(settings: WorkerSettings): Promise<(task: InferenceTask) => Promise<InferenceResult>> {
  const { spec } = settings;
  const session = await ort.InferenceSession.create(settings.modelPath, {
    intraOpNumThreads: settings.intraOpThreads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
    // A memory pattern is planned and kept per input shape, so every batch size from 1 to maxBatch
    // would grow the arena again after warm-up (measured here: +120 MB per session for sizes 1-8).
    // Without it the arena warmed up at the largest batch serves every size, equally fast.
    enableMemPattern: false,
    extra: { session: { intra_op: { allow_spinning: settings.ortSpinning ? '1' : '0' } } },
  });
  const postprocessor = new SsdPostprocessor(spec);
  const { width, height } = spec.input;
  const imageSize = 3 * width * height;
  const batchInput = new Float32Array(settings.maxBatch * imageSize);

  const locSize = postprocessor.numPriors * 4;
  const confSize = postprocessor.numPriors * postprocessor.numClasses;

  const infer = async (task: InferenceTask): Promise<InferenceResult> => {
    const n = task.items.length;
    if (n === 0) return [];
    if (n > settings.maxBatch) throw new RangeError(`task has ${n} images, more than maxBatch ${settings.maxBatch}`);
    const scales = task.items.map(({ image }) => inputToImageScale(image, spec.input));
    let pixelBytes = 0;
    task.items.forEach((item, i) => {
      preprocessInto(item.image, spec.input, batchInput, i * imageSize);
      pixelBytes += item.image.data.byteLength;
      // Nothing refers to the pixels any more once they are in the tensor.
      item.image.data = EMPTY;
    });
    // The pixels are in the tensor: free them now rather than at this thread's next collection.
    if (pixelBytes >= COLLECT_AFTER_BYTES) collectYoung();
    const input = new ort.Tensor('float32', batchInput.subarray(0, n * imageSize), [n, 3, height, width]);
    const outputs = await session.run({ [spec.input.name]: input });
    const loc = outputs[spec.outputs.loc]?.data;
    const conf = outputs[spec.outputs.conf]?.data;
    if (!(loc instanceof Float32Array) || !(conf instanceof Float32Array)) {
      throw new Error(`model did not return float32 ${spec.outputs.loc} and ${spec.outputs.conf}`);
    }
    // Images of one run may come from different requests, each with its own options.
    return task.items.map(({ options }, i) => {
      const detections = postprocessor.detect(loc.subarray(i * locSize, (i + 1) * locSize), conf.subarray(i * confSize, (i + 1) * confSize), 1, options)[0]!;
      const scale = scales[i]!;
      if (scale.x !== 1 || scale.y !== 1) {
        for (const d of detections) {
          d.xmin *= scale.x;
          d.xmax *= scale.x;
          d.ymin *= scale.y;
          d.ymax *= scale.y;
        }
      }
      return detections;
    });
  };

  // Warm-up at the largest batch: ORT's arenas grow to the biggest shape they have seen, so
  // paying for it here makes the first client fast and the RSS at "ready" the steady state
  // (what a memory limit must cover), instead of growth the first time a full batch arrives.
  const grey = new Uint8Array(width * height * 3).fill(127);
  const image = { data: grey, width, height, order: spec.input.channelOrder };
  await infer({ items: Array.from({ length: settings.maxBatch }, () => ({ image: { ...image }, options: {} })) });
  parentPort?.postMessage({ [SESSION_READY]: threadId });
  return infer;
}

export = createHandler(workerData as WorkerSettings);
