import { DynamicBatcher, JobDroppedError, QueueFullError, type BatcherLimits, type JobContext } from '../src/batching/dynamic-batcher';

const open: JobContext = { deadline: Infinity, isCancelled: () => false };

/** A runner whose batches finish only when the test says so. */
function controlledRunner() {
  const batches: number[][] = [];
  const finishers: Array<() => void> = [];
  const run = (items: number[]): Promise<number[]> => {
    batches.push(items);
    return new Promise((resolve) => finishers.push(() => resolve(items.map((x) => x * 10))));
  };
  const finishNext = async (): Promise<void> => {
    finishers.shift()!();
    await new Promise((r) => setImmediate(r));
  };
  return { batches, run, finishNext };
}

function batcher(limits: Partial<BatcherLimits>, run: (items: number[]) => Promise<number[]>) {
  return new DynamicBatcher<number, number>({ maxBatch: 4, maxQueueDelayMs: 0, maxQueue: 100, concurrency: 1, ...limits }, run);
}

describe('dynamic batching', () => {
  it('merges images of concurrent requests into shared runs and returns each result to its own request', async () => {
    const runner = controlledRunner();
    const b = batcher({ maxBatch: 4 }, runner.run);
    const first = b.submit([1], open); // starts alone: the worker was idle
    const second = b.submit([2, 3], open);
    const third = b.submit([4, 5, 6], open);
    expect(runner.batches).toEqual([[1]]);
    await runner.finishNext();
    expect(runner.batches).toEqual([[1], [2, 3, 4, 5]]);
    await runner.finishNext();
    await runner.finishNext();
    expect(runner.batches).toEqual([[1], [2, 3, 4, 5], [6]]);
    expect(await Promise.all(first)).toEqual([10]);
    expect(await Promise.all(second)).toEqual([20, 30]);
    expect(await Promise.all(third)).toEqual([40, 50, 60]);
  });

  it('runs as many batches at once as it has workers', async () => {
    const runner = controlledRunner();
    const b = batcher({ maxBatch: 2, concurrency: 2 }, runner.run);
    b.submit([1, 2, 3, 4, 5], open);
    expect(runner.batches).toEqual([[1, 2], [3, 4]]);
    expect([b.inFlight, b.queued]).toEqual([2, 1]);
  });

  it('refuses a whole submission at once when the queue cannot take it', () => {
    const runner = controlledRunner();
    const b = batcher({ maxBatch: 1, maxQueue: 3 }, runner.run);
    b.submit([1], open); // running, not queued
    b.submit([2, 3], open);
    expect(() => b.submit([4, 5], open)).toThrow(QueueFullError);
    expect(b.queued).toBe(2);
    b.submit([4], open);
    expect(b.queued).toBe(3);
  });

  it('holds queue places for a request whose images are still decoding, all or none', async () => {
    const runner = controlledRunner();
    const b = batcher({ maxBatch: 1, maxQueue: 4 }, runner.run);
    const slots = b.reserve(3, open);
    expect(() => b.reserve(2, open)).toThrow(QueueFullError);
    const first = slots.submit(1);
    // 1 left the queue for the idle worker; 2 places are still held.
    expect(() => b.submit([7, 8, 9], open)).toThrow(QueueFullError);
    // Two places were never used (their images failed to decode): they are given back.
    slots.release();
    const more = b.submit([2, 3, 4], open);
    await runner.finishNext();
    await runner.finishNext();
    expect(await first).toBe(10);
    expect(await more[0]).toBe(20);
  });

  it('drops queued work whose deadline passed or whose caller cancelled, without running it', async () => {
    let now = 1000;
    const runner = controlledRunner();
    const b = new DynamicBatcher<number, number>({ maxBatch: 4, maxQueueDelayMs: 0, maxQueue: 100, concurrency: 1 }, runner.run, {}, () => now);
    let cancelled = false;
    b.submit([1], open);
    const late = b.submit([2], { deadline: 1500, isCancelled: () => false });
    const gone = b.submit([3], { deadline: Infinity, isCancelled: () => cancelled });
    const kept = b.submit([4], { deadline: 5000, isCancelled: () => false });
    now = 2000;
    cancelled = true;
    await runner.finishNext();
    expect(runner.batches).toEqual([[1], [4]]);
    await expect(late[0]).rejects.toEqual(new JobDroppedError('deadline'));
    await expect(gone[0]).rejects.toEqual(new JobDroppedError('cancelled'));
    await runner.finishNext();
    expect(await kept[0]).toBe(40);
  });

  it('with a queue delay, holds a partial batch until it fills or the oldest image waited long enough', async () => {
    jest.useFakeTimers();
    try {
      const runner = controlledRunner();
      const b = batcher({ maxBatch: 3, maxQueueDelayMs: 5 }, runner.run);
      b.submit([1], open);
      expect(runner.batches).toEqual([]);
      jest.advanceTimersByTime(3);
      b.submit([2], open);
      expect(runner.batches).toEqual([]);
      jest.advanceTimersByTime(2);
      expect(runner.batches).toEqual([[1, 2]]);
      b.submit([3, 4, 5], open);
      expect(runner.batches).toEqual([[1, 2]]); // worker busy
    } finally {
      jest.useRealTimers();
    }
  });

  it('sends a full batch at once even with a queue delay', () => {
    const runner = controlledRunner();
    const b = batcher({ maxBatch: 2, maxQueueDelayMs: 1000 }, runner.run);
    b.submit([1, 2], open);
    expect(runner.batches).toEqual([[1, 2]]);
  });

  it('runs a failed batch once more, and loses no image when the failure was passing', async () => {
    const runs: number[][] = [];
    const reruns: string[] = [];
    const b = new DynamicBatcher<number, number>(
      { maxBatch: 4, maxQueueDelayMs: 0, maxQueue: 100, concurrency: 1 },
      async (items) => {
        runs.push(items);
        if (runs.length === 1) throw new Error('worker died');
        return items.map((x) => x * 10);
      },
      { rerun: (mode, size) => reruns.push(`${mode}:${size}`) },
    );
    // Images of two requests share the failing batch; both are answered.
    const first = b.submit([1, 2], open);
    const second = b.submit([3], open);
    expect(await Promise.all([...first, ...second])).toEqual([10, 20, 30]);
    expect(runs).toEqual([[1, 2], [1, 2], [3]]);
    expect(reruns).toEqual(['whole:2']);
    expect(await Promise.all(b.submit([4], open))).toEqual([40]);
  });

  it('isolates a poison image: after a second failure each image runs alone and only the poison one fails', async () => {
    const runs: number[][] = [];
    const b = batcher({ maxBatch: 4 }, async (items) => {
      runs.push(items);
      if (items.includes(13)) throw new Error('session failed on 13');
      return items.map((x) => x * 10);
    });
    const first = b.submit([11], open);
    const shared = [...b.submit([12], open), ...b.submit([13, 14], open)];
    // 11 runs alone (the worker was idle); [12, 13, 14] then fails twice and is split.
    expect(await first[0]).toBe(110);
    expect(await shared[0]).toBe(120);
    await expect(shared[1]).rejects.toThrow('session failed on 13');
    expect(await shared[2]).toBe(140);
    expect(runs).toEqual([[11], [12, 13, 14], [12, 13, 14], [12], [13], [14]]);
  });

  it('does not re-run images whose caller has left meanwhile', async () => {
    let cancelled = false;
    const leaving: JobContext = { deadline: Infinity, isCancelled: () => cancelled };
    const runs: number[][] = [];
    const b = batcher({ maxBatch: 4 }, async (items) => {
      runs.push(items);
      if (runs.length === 1) {
        cancelled = true;
        throw new Error('worker died');
      }
      return items;
    });
    const gone = b.submit([1], leaving);
    await expect(gone[0]).rejects.toBeInstanceOf(JobDroppedError);
    expect(runs).toEqual([[1]]);
  });

  it('drains: refuses new work, finishes what was queued, then resolves', async () => {
    const runner = controlledRunner();
    const b = batcher({ maxBatch: 1 }, runner.run);
    const queued = b.submit([1, 2], open);
    let drained = false;
    const draining = b.drain().then(() => (drained = true));
    expect(() => b.submit([3], open)).toThrow(JobDroppedError);
    await runner.finishNext();
    expect(drained).toBe(false);
    await runner.finishNext();
    await draining;
    expect(await Promise.all(queued)).toEqual([10, 20]);
  });
});
