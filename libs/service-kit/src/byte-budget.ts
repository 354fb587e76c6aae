// A budget of bytes that requests may pin (message bytes, decoded pixels), after Triton's and
// Envoy's per-request and global memory bounds. A request reserves what it is about to hold before
// holding it; what does not fit waits, first come first served, in a bounded queue for a bounded
// time, or is refused at once. A reservation may shrink (a worst case becomes the real size) and is
// released exactly once, however the request ends.

export type BudgetRefusal = 'too-large' | 'queue-full' | 'timeout' | 'deadline' | 'cancelled';

export class BudgetError extends Error {
  override readonly name = 'BudgetError';
  constructor(
    readonly reason: BudgetRefusal,
    message: string,
  ) {
    super(message);
  }
}

export interface AcquireOptions {
  /** Epoch ms after which the request is of no use (its gRPC deadline); Infinity for none. */
  deadline?: number;
  /** Longest wait in the queue, whatever the deadline. */
  maxWaitMs?: number;
  signal?: AbortSignal;
}

export class Reservation {
  private held: number;
  private released = false;

  constructor(
    private readonly budget: ByteBudget,
    bytes: number,
  ) {
    this.held = bytes;
  }

  get bytes(): number {
    return this.released ? 0 : this.held;
  }

  /** Gives back what is no longer needed (never grows). */
  shrinkTo(bytes: number): void {
    if (this.released || bytes >= this.held) return;
    const freed = this.held - Math.max(0, bytes);
    this.held -= freed;
    this.budget.give(freed);
  }

  release(): void {
    if (this.released) return;
    this.released = true;
    this.budget.give(this.held);
  }
}

interface Waiter {
  bytes: number;
  grant(): void;
  fail(error: BudgetError): void;
}

export interface ByteBudgetOptions {
  /** What the budget is for, in messages: "detector pixel budget". */
  name: string;
  /** Requests that may wait at once; more are refused. */
  maxWaiters: number;
  /** Default longest wait. */
  maxWaitMs: number;
}

const mib = (bytes: number): string => `${(bytes / 2 ** 20).toFixed(bytes < 10 * 2 ** 20 ? 1 : 0)} MiB`;

export class ByteBudget {
  private used = 0;
  private readonly waiters: Waiter[] = [];

  constructor(
    readonly capacity: number,
    private readonly options: ByteBudgetOptions,
  ) {
    if (!(capacity > 0)) throw new RangeError(`${options.name}: capacity must be > 0, got ${capacity}`);
  }

  get inUse(): number {
    return this.used;
  }

  get waiting(): number {
    return this.waiters.length;
  }

  /** A reservation now, or undefined when it does not fit (or others wait first). */
  tryAcquire(bytes: number): Reservation | undefined {
    this.checkSize(bytes);
    if (this.waiters.length > 0 || this.used + bytes > this.capacity) return undefined;
    this.used += bytes;
    return new Reservation(this, bytes);
  }

  /** A reservation, once the bytes fit; rejects with a BudgetError naming the budget. */
  acquire(bytes: number, options: AcquireOptions = {}): Promise<Reservation> {
    try {
      const now = this.tryAcquire(bytes);
      if (now) return Promise.resolve(now);
    } catch (error) {
      return Promise.reject(error);
    }
    const { signal } = options;
    if (signal?.aborted) return Promise.reject(new BudgetError('cancelled', 'cancelled while waiting for memory'));
    if (this.waiters.length >= this.options.maxWaiters) {
      return Promise.reject(this.exhausted('queue-full', `${this.options.maxWaiters} requests already wait`));
    }
    const deadline = options.deadline ?? Infinity;
    const longest = options.maxWaitMs ?? this.options.maxWaitMs;
    const maxWait = Math.min(longest, deadline - Date.now());
    // Which bound ends the wait is known now: a timer may fire a millisecond early by Date.now().
    const endsAtDeadline = maxWait < longest;
    if (maxWait <= 0) return Promise.reject(this.exhausted(deadline <= Date.now() ? 'deadline' : 'timeout', 'no time left to wait'));
    return new Promise<Reservation>((resolve, reject) => {
      const finish = (): void => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        const i = this.waiters.indexOf(waiter);
        if (i >= 0) this.waiters.splice(i, 1);
      };
      const waiter: Waiter = {
        bytes,
        grant: () => {
          finish();
          resolve(new Reservation(this, bytes));
        },
        fail: (error) => {
          finish();
          reject(error);
          // The head may have been what blocked the others.
          this.pump();
        },
      };
      const timer = setTimeout(
        () => waiter.fail(this.exhausted(endsAtDeadline ? 'deadline' : 'timeout', `waited ${Math.round(maxWait)} ms`)),
        maxWait,
      );
      const onAbort = (): void => waiter.fail(new BudgetError('cancelled', 'cancelled while waiting for memory'));
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiters.push(waiter);
    });
  }

  /** @internal Returns bytes from a reservation. */
  give(bytes: number): void {
    this.used -= bytes;
    this.pump();
  }

  private pump(): void {
    // First come, first served: a large request at the head is not overtaken by small ones.
    while (this.waiters.length > 0 && this.used + this.waiters[0]!.bytes <= this.capacity) {
      const head = this.waiters[0]!;
      this.used += head.bytes;
      head.grant();
    }
  }

  private checkSize(bytes: number): void {
    if (!Number.isFinite(bytes) || bytes < 0) throw new RangeError(`${this.options.name}: cannot reserve ${bytes} bytes`);
    if (bytes > this.capacity) {
      throw new BudgetError('too-large', `needs ${mib(bytes)}, more than the whole ${this.options.name} of ${mib(this.capacity)}`);
    }
  }

  private exhausted(reason: BudgetRefusal, detail: string): BudgetError {
    return new BudgetError(reason, `${this.options.name} of ${mib(this.capacity)} is in use (${mib(this.used)} held; ${detail})`);
  }
}
