import { BudgetError, ByteBudget } from '../src';

const budget = (capacity: number, maxWaiters = 4, maxWaitMs = 1000) => new ByteBudget(capacity, { name: 'test budget', maxWaiters, maxWaitMs });

describe('byte budget', () => {
  it('grants what fits at once and refuses what never could, naming the budget', async () => {
    const b = budget(100);
    const r = await b.acquire(60);
    expect(b.inUse).toBe(60);
    await expect(b.acquire(101)).rejects.toMatchObject({ reason: 'too-large', message: expect.stringMatching(/needs 0.0 MiB, more than the whole test budget of 0.0 MiB/) });
    r.release();
    r.release();
    expect(b.inUse).toBe(0);
  });

  it('queues what does not fit yet, first come first served, and grants it when bytes come back', async () => {
    const b = budget(100);
    const first = await b.acquire(80);
    const order: string[] = [];
    const big = b.acquire(90).then((r) => (order.push('big'), r));
    const small = b.acquire(10).then((r) => (order.push('small'), r));
    // 10 would fit now, but the 90 asked first: no overtaking.
    await new Promise((r) => setTimeout(r, 10));
    expect(order).toEqual([]);
    first.release();
    (await big).release();
    await small;
    expect(order).toEqual(['big', 'small']);
  });

  it('shrinks a reservation to what is really held, waking waiters', async () => {
    const b = budget(100);
    const r = await b.acquire(100);
    const waiting = b.acquire(50);
    r.shrinkTo(40);
    r.shrinkTo(90); // never grows
    expect(r.bytes).toBe(40);
    await waiting;
    expect(b.inUse).toBe(90);
  });

  it('refuses at once when too many wait, and after the longest wait or the deadline', async () => {
    const b = budget(10, 1, 30);
    await b.acquire(10);
    const waiter = b.acquire(5);
    await expect(b.acquire(5)).rejects.toMatchObject({ reason: 'queue-full' });
    await expect(waiter).rejects.toMatchObject({ reason: 'timeout', message: expect.stringMatching(/test budget of 0.0 MiB is in use \(0.0 MiB held; waited 30 ms\)/) });
    await expect(b.acquire(5, { deadline: Date.now() + 20, maxWaitMs: 1000 })).rejects.toMatchObject({ reason: 'deadline' });
  });

  it('stops waiting when the caller is cancelled', async () => {
    const b = budget(10);
    await b.acquire(10);
    const abort = new AbortController();
    const waiting = b.acquire(5, { signal: abort.signal });
    abort.abort();
    await expect(waiting).rejects.toBeInstanceOf(BudgetError);
    expect(b.waiting).toBe(0);
  });
});
