// Dynamic batching across requests, after Triton's dynamic batcher: images of any request
// wait in one bounded FIFO; whenever a worker is free, up to maxBatch of them leave together
// as one session run. With maxQueueDelayMs 0 a free worker takes whatever is queued at once;
// above 0 a partial batch may wait that long (from its oldest image) for company.
//
// Work only leaves the queue for a worker, so a deadline or a cancellation that arrives while
// it waits drops it without running: nothing is ever aborted mid-inference.
//
// A failed run (a session error, a worker that died) loses no image: the batch runs once more,
// and if it fails again each image runs alone, so only an image that fails by itself (a poison
// image) is answered with the error; the other requests' images in that batch are served.

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
  /** A failed batch is run again: whole (its first failure) or image by image (its second). */
  rerun?(mode: 'whole' | 'single', size: number): void;
}

interface Job<I, R> {
  item: I;
  context: JobContext;
  enqueuedAt: number;
  resolve(result: R): void;
  reject(error: unknown): void;
}

/** Queue places held for a request whose images are still being decoded. */
export interface QueueSlots<I, R> {
  /** Queues one image into a held place. */
  submit(item: I): Promise<R>;
  /** Gives back the places not used. */
  release(): void;
}

export class DynamicBatcher<I, R> {
  private readonly queue: Job<I, R>[] = [];
  private head = 0;
  /** Places held by reserve() and not yet used. */
  private reserved = 0;
  private holdPump = false;
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
    const slots = this.reserve(items.length, context);
    // Queued together, then pumped once: they can leave in one batch.
    this.holdPump = true;
    try {
      return items.map((item) => slots.submit(item));
    } finally {
      this.holdPump = false;
      this.pump();
    }
  }

  /**
   * Holds `count` queue places, all or none (QueueFullError), for images that are queued one by
   * one as they are decoded: a request is refused at once or never for want of queue space.
   */
  reserve(count: number, context: JobContext): QueueSlots<I, R> {
    if (this.closed) throw new JobDroppedError('closed');
    if (this.queued + this.reserved + count > this.limits.maxQueue) {
      throw new QueueFullError(`detector queue is full (${this.queued + this.reserved} of ${this.limits.maxQueue} images waiting or being decoded)`);
    }
    this.reserved += count;
    let left = count;
    return {
      submit: (item) => {
        if (left === 0) throw new RangeError('no queue place left');
        left--;
        this.reserved--;
        if (this.closed) return Promise.reject(new JobDroppedError('closed'));
        const promise = new Promise<R>((resolve, reject) => this.queue.push({ item, context, enqueuedAt: this.now(), resolve, reject }));
        this.observer.enqueued?.(1);
        if (!this.holdPump) this.pump();
        return promise;
      },
      release: () => {
        this.reserved -= left;
        left = 0;
      },
    };
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
    this.execute(batch)
      .then(
        (results) => {
          this.observer.batchFinished?.(batch.length, this.now() - started);
          batch.forEach((job, i) => job.resolve(results[i]!));
        },
        (error: unknown) => {
          this.observer.batchFinished?.(batch.length, this.now() - started, error);
          return this.recover(batch);
        },
      )
      .finally(() => {
        this.running--;
        this.pump();
      });
  }

  private async execute(batch: readonly Job<I, R>[]): Promise<R[]> {
    const results = await this.runBatch(batch.map((job) => job.item));
    if (results.length !== batch.length) throw new Error(`batch of ${batch.length} returned ${results.length} results`);
    return results;
  }

  /** After a failed run: once more whole, then image by image; each job settles exactly once. */
  private async recover(batch: Job<I, R>[]): Promise<void> {
    let live = this.withoutDropped(batch);
    if (live.length === 0) return;
    this.observer.rerun?.('whole', live.length);
    try {
      const results = await this.execute(live);
      live.forEach((job, i) => job.resolve(results[i]!));
      return;
    } catch {
      // Fails again: some image may be the cause. Find it by running each alone.
    }
    live = this.withoutDropped(live);
    for (const job of live) {
      if (this.withoutDropped([job]).length === 0) continue;
      this.observer.rerun?.('single', 1);
      try {
        job.resolve((await this.execute([job]))[0]!);
      } catch (error) {
        job.reject(error);
      }
    }
  }

  /** The jobs still wanted; those whose deadline passed or whose caller left are dropped. */
  private withoutDropped(jobs: Job<I, R>[]): Job<I, R>[] {
    const now = this.now();
    return jobs.filter((job) => {
      const reason: DropReason | undefined = now >= job.context.deadline ? 'deadline' : job.context.isCancelled() ? 'cancelled' : undefined;
      if (!reason) return true;
      this.observer.dropped?.(reason);
      job.reject(new JobDroppedError(reason));
      return false;
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
