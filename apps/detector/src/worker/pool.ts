// The main thread's handle on the inference workers. Batching and queueing happen before this
// (batching/dynamic-batcher.ts), so Piscina only ever sees as many tasks as it has workers.
import * as path from 'node:path';
import { Piscina } from 'piscina';
import { SESSION_READY, type InferenceItem, type InferenceResult, type InferenceTask, type WorkerSettings } from './protocol';

// Workers run compiled JavaScript. Under ts-jest this file is the .ts source, so point at the
// build output next to it (tests depend on the build target).
function workerFile(): string {
  const dir = __dirname.replace(`${path.sep}src${path.sep}`, `${path.sep}dist${path.sep}`);
  return path.join(dir, 'inference-worker.js');
}

export class InferencePool {
  private readonly piscina: Piscina;
  private closed = false;
  /** The first worker failure; later ones (Piscina replaces failed workers) add nothing. */
  private failure: unknown;

  constructor(
    settings: WorkerSettings,
    readonly size: number,
  ) {
    this.piscina = new Piscina({
      filename: workerFile(),
      workerData: settings,
      minThreads: size,
      maxThreads: size,
      // Sessions are expensive and re-creating them leaks: workers live as long as the pool.
      idleTimeout: Infinity,
      concurrentTasksPerWorker: 1,
    });
    // Piscina emits 'error' for every worker that fails and for each replacement it starts: an
    // 'error' without a listener would crash the process, so one listener stays for the pool's life.
    this.piscina.on('error', (error: unknown) => {
      this.failure ??= error;
    });
  }

  /** Resolves once every worker has loaded and warmed up its session; rejects if one fails. */
  ready(): Promise<void> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    return new Promise<void>((resolve, reject) => {
      const seen = new Set<number>();
      const onMessage = (message: unknown): void => {
        const id = (message as Record<string, unknown> | null)?.[SESSION_READY];
        if (typeof id !== 'number' || seen.has(id)) return;
        seen.add(id);
        if (seen.size === this.size) {
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

  /** One session run over the items; their pixels are in shared memory, read in place. */
  async run(items: InferenceItem[]): Promise<InferenceResult> {
    // After close() Piscina would start a fresh worker (and session) for the task.
    if (this.closed) throw new Error('inference pool is closed');
    const task: InferenceTask = { items };
    return (await this.piscina.run(task)) as InferenceResult;
  }

  /** Fraction of worker capacity in use, 0..1. */
  get utilization(): number {
    return this.piscina.utilization;
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.piscina.close();
  }
}
