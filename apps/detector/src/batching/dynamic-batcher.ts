// Dynamic batching across requests, after Triton's dynamic batcher: images of any request
// wait in one bounded FIFO; whenever a worker is free, up to maxBatch of them leave together
// as one session run. With maxQueueDelayMs 0 a free worker takes whatever is queued at once;
// above 0 a partial batch may wait that long (from its oldest image) for company.
//
// Work only leaves the queue for a worker, so a deadline or a cancellation that arrives while
// it waits drops it without running: nothing is ever aborted mid-inference.

export interface BatcherLimits {
  maxBatch: number;
  maxQueueDelayMs: number;
  /** Images that may wait; a submission that does not fit whole is refused. */
  maxQueue: number;
  /** Batches running at once (= workers). */
  concurrency: number;
}

export interface JobContext {
  /** Epoch ms; Infinity for none. */
  deadline: number;
  isCancelled(): boolean;
}

export type DropReason = 'deadline' | 'cancelled' | 'closed';

export class QueueFullError extends Error {
  override readonly name = 'QueueFullError';
}

export class JobDroppedError extends Error {
  override readonly name = 'JobDroppedError';
  constructor(readonly reason: DropReason) {
    super(reason === 'deadline' ? 'deadline exceeded while queued' : reason === 'cancelled' ? 'cancelled while queued' : 'detector is shutting down');
  }
}

export interface BatcherObserver {
  /** Images accepted into the queue. */
  enqueued?(count: number): void;
  /** A batch leaves the queue: its size and how long each of its items waited. */
  batchStarted?(size: number, waitedMs: number[]): void;
  batchFinished?(size: number, runMs: number, error?: unknown): void;
  dropped?(reason: DropReason): void;
}

interface Job<I, R> {
  item: I;
  context: JobContext;
  enqueuedAt: number;
  resolve(result: R): void;
  reject(error: unknown): void;
}

export class DynamicBatcher<I, R> {
  private readonly queue: Job<I, R>[] = [];
  private head = 0;
  private running = 0;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private idleWaiters: Array<() => void> = [];

  constructor(
    private readonly limits: BatcherLimits,
    private readonly runBatch: (items: I[]) => Promise<R[]>,
    private readonly observer: BatcherObserver = {},
    private readonly now: () => number = Date.now,
  ) {
    if (limits.maxBatch < 1 || limits.concurrency < 1) throw new RangeError('maxBatch and concurrency must be >= 1');
  }

  get queued(): number {
    return this.queue.length - this.head;
  }

  get inFlight(): number {
    return this.running;
  }

  /** Queues every item or none; one promise per item, settled with its own result. */
  submit(items: readonly I[], context: JobContext): Promise<R>[] {
    if (this.closed) throw new JobDroppedError('closed');
    if (this.queued + items.length > this.limits.maxQueue) {
      throw new QueueFullError(`detector queue is full (${this.queued} of ${this.limits.maxQueue} images waiting)`);
    }
    const enqueuedAt = this.now();
    const promises = items.map(
      (item) => new Promise<R>((resolve, reject) => this.queue.push({ item, context, enqueuedAt, resolve, reject })),
    );
    this.observer.enqueued?.(items.length);
    this.pump();
    return promises;
  }

  /** Refuses new work, lets queued and running work finish, resolves when idle. */
  async drain(): Promise<void> {
    this.closed = true;
    this.pump();
    if (this.queued === 0 && this.running === 0) return;
    await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
  }

  private pump(): void {
    while (this.running < this.limits.concurrency && this.queued > 0) {
      const batch = this.takeBatch();
      if (batch === undefined) return;
      if (batch.length > 0) this.start(batch);
    }
    this.compact();
    if (this.running === 0 && this.queued === 0) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const wake of waiters) wake();
    }
  }

  /** The next batch, [] if everything looked at was dropped, undefined to wait for company. */
  private takeBatch(): Job<I, R>[] | undefined {
    const { maxBatch, maxQueueDelayMs } = this.limits;
    if (maxQueueDelayMs > 0 && this.queued < maxBatch && !this.closed) {
      const waited = this.now() - this.queue[this.head]!.enqueuedAt;
      if (waited < maxQueueDelayMs) {
        this.schedule(maxQueueDelayMs - waited);
        return undefined;
      }
    }
    const now = this.now();
    const batch: Job<I, R>[] = [];
    while (batch.length < maxBatch && this.queued > 0) {
      const job = this.queue[this.head]!;
      this.queue[this.head++] = undefined as unknown as Job<I, R>;
      // Deadline first: grpc-js also marks a call cancelled once its deadline passes.
      const reason: DropReason | undefined = now >= job.context.deadline ? 'deadline' : job.context.isCancelled() ? 'cancelled' : undefined;
      if (reason) {
        this.observer.dropped?.(reason);
        job.reject(new JobDroppedError(reason));
      } else {
        batch.push(job);
      }
    }
    return batch;
  }

  private start(batch: Job<I, R>[]): void {
    this.running++;
    const started = this.now();
    this.observer.batchStarted?.(batch.length, batch.map((job) => started - job.enqueuedAt));
    let outcome: Promise<R[]>;
    try {
      outcome = this.runBatch(batch.map((job) => job.item));
    } catch (error) {
      outcome = Promise.reject(error);
    }
    outcome
      .then(
        (results) => {
          if (results.length !== batch.length) throw new Error(`batch of ${batch.length} returned ${results.length} results`);
          this.observer.batchFinished?.(batch.length, this.now() - started);
          batch.forEach((job, i) => job.resolve(results[i]!));
        },
      )
      .catch((error: unknown) => {
        this.observer.batchFinished?.(batch.length, this.now() - started, error);
        for (const job of batch) job.reject(error);
      })
      .finally(() => {
        this.running--;
        this.pump();
      });
  }

  private schedule(delayMs: number): void {
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.pump();
    }, Math.max(0, Math.ceil(delayMs)));
  }

  // The queue is an array with a moving head; drop the consumed prefix now and then.
  private compact(): void {
    if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue.splice(0, this.head);
      this.head = 0;
    }
  }
}
