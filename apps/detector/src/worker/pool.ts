// The main thread's handle on the inference workers.
import * as path from 'node:path';
import { Piscina } from 'piscina';
import type { Detection, DetectOptions } from '@edge-ssd/ssd-core';
import type { PixelImage } from './preprocess';
import { SESSION_READY, type InferenceResult, type InferenceTask, type WorkerSettings } from './protocol';

export class QueueFullError extends Error {
  override readonly name = 'QueueFullError';
}

// Workers run compiled JavaScript. Under ts-jest this file is the .ts source, so point at the
// build output next to it (tests depend on the build target).
function workerFile(): string {
  const dir = __dirname.replace(`${path.sep}src${path.sep}`, `${path.sep}dist${path.sep}`);
  return path.join(dir, 'inference-worker.js');
}

export class InferencePool {
  private readonly piscina: Piscina;
  private readonly maxBatch: number;

  constructor(settings: WorkerSettings, private readonly poolSize: number, maxQueue: number) {
    this.maxBatch = settings.maxBatch;
    this.piscina = new Piscina({
      filename: workerFile(),
      workerData: settings,
      minThreads: poolSize,
      maxThreads: poolSize,
      // Sessions are expensive and re-creating them leaks: workers live as long as the pool.
      idleTimeout: Infinity,
      maxQueue,
      concurrentTasksPerWorker: 1,
    });
  }

  /** Resolves once every worker has loaded and warmed up its session; rejects if one fails. */
  ready(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const pending = new Set<number>();
      let expected = this.poolSize;
      const onMessage = (message: unknown): void => {
        const id = (message as Record<string, unknown> | null)?.[SESSION_READY];
        if (typeof id !== 'number' || pending.has(id)) return;
        pending.add(id);
        if (--expected === 0) {
          detach();
          resolve();
        }
      };
      const onError = (error: unknown): void => {
        detach();
        reject(error);
      };
      const detach = (): void => {
        this.piscina.off('message', onMessage);
        this.piscina.off('error', onError);
      };
      this.piscina.on('message', onMessage);
      this.piscina.on('error', onError);
    });
  }

  /**
   * Runs the images in chunks of at most maxBatch, in parallel across workers, and returns
   * detections in input order. The images' pixel buffers are transferred to the workers.
   */
  async detect(images: PixelImage[], options: DetectOptions): Promise<Detection[][]> {
    const chunks: PixelImage[][] = [];
    for (let i = 0; i < images.length; i += this.maxBatch) chunks.push(images.slice(i, i + this.maxBatch));
    const results = await Promise.all(chunks.map((chunk) => this.run({ images: chunk, options })));
    return results.flat();
  }

  private async run(task: InferenceTask): Promise<InferenceResult> {
    try {
      return (await this.piscina.run(task, { transferList: task.images.map((image) => image.data.buffer as ArrayBuffer) })) as InferenceResult;
    } catch (error) {
      if (error instanceof Error && /queue is at limit|No task queue available/i.test(error.message)) {
        throw new QueueFullError('detector queue is full');
      }
      throw error;
    }
  }

  get queueSize(): number {
    return this.piscina.queueSize;
  }

  async close(): Promise<void> {
    await this.piscina.close();
  }
}
