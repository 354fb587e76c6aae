// The dispatcher's time decisions, on a fake clock: the deadline each attempt is given, when it
// stops starting attempts, and what it cancels. Detectors are scripted doubles of the two things
// the dispatcher uses (DetectorChooser.pick and DetectorClient.Detect) that behave as a grpc-js
// client does: a call whose deadline passes ends DEADLINE_EXCEEDED, a cancelled call ends
// CANCELLED. (dispatch.test.ts runs the same dispatcher against real gRPC detectors.)
import { EventEmitter } from 'node:events';
import * as grpc from '@grpc/grpc-js';
import type { DetectorClient, DetectRequest, DetectResponse } from '@edge-ssd/protos';
import { createLogger, grpcError } from '@edge-ssd/service-kit';
import { Dispatcher, type DetectorChooser, type DispatchContext, type RetryPolicy } from '../src/service/dispatch';
import type { Detector } from '../src/upstream/detector-set';

const log = createLogger('dispatch-deadline-test', 'error');
const T0 = Date.UTC(2030, 0, 1);

/** What a scripted detector does with a call: answer, fail at once, or never answer. */
type Script = { answer: 'ok' } | { fail: grpc.status } | { hang: true };
/** The same for every call, or chosen by the ids of the images sent. */
type Behaviour = Script | ((ids: string[]) => Script);

interface Call {
  address: string;
  ids: string[];
  /** Clock when the attempt started. */
  at: number;
  /** The deadline the attempt was given (epoch ms). */
  deadline: number;
  cancelled: boolean;
}

class ScriptedDetectors implements DetectorChooser {
  readonly calls: Call[] = [];
  readonly markedUnhealthy: string[] = [];
  private readonly detectors: Detector[];

  constructor(behaviours: Record<string, Behaviour>) {
    this.detectors = Object.entries(behaviours).map(([address, behaviour]) => ({ address, healthy: true, client: this.client(address, behaviour) }));
  }

  /** The first detector not excluded, in the order given: the order of attempts is known. */
  pick(exclude: ReadonlySet<string> = new Set()): Detector | undefined {
    return this.detectors.find((d) => !exclude.has(d.address));
  }

  markUnhealthy(address: string): void {
    this.markedUnhealthy.push(address);
  }

  private client(address: string, behaviour: Behaviour): DetectorClient {
    const calls = this.calls;
    const Detect = (request: DetectRequest, _metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<DetectResponse>) => {
      const deadline = Number(options.deadline);
      const call: Call = { address, ids: request.images.map((i) => i.id), at: Date.now(), deadline, cancelled: false };
      calls.push(call);
      const outcome = typeof behaviour === 'function' ? behaviour(call.ids) : behaviour;
      let finished = false;
      const finish = (error: grpc.ServiceError | null, response?: DetectResponse): void => {
        if (finished) return;
        finished = true;
        clearTimeout(timer);
        callback(error, response);
      };
      // As grpc-js: the call ends DEADLINE_EXCEEDED when its deadline passes.
      const timer = setTimeout(() => finish(grpcError(grpc.status.DEADLINE_EXCEEDED, 'Deadline exceeded')), Math.max(0, deadline - Date.now()));
      if ('answer' in outcome) {
        const response = { model: 'scripted', results: request.images.map((i) => ({ id: i.id, status: { code: grpc.status.OK, message: '' }, detections: [], width: 1, height: 1 })) };
        void Promise.resolve().then(() => finish(null, response));
      } else if ('fail' in outcome) {
        void Promise.resolve().then(() => finish(grpcError(outcome.fail, `scripted ${grpc.status[outcome.fail]} from ${address}`)));
      }
      return {
        cancel: () => {
          if (finished) return;
          call.cancelled = true;
          finish(grpcError(grpc.status.CANCELLED, 'Cancelled on client'));
        },
      } as unknown as grpc.ClientUnaryCall;
    };
    return { Detect } as unknown as DetectorClient;
  }
}

/** The client's call as the dispatcher sees it: cancellable, with a 'cancelled' event. */
class ClientCall extends EventEmitter {
  cancelled = false;
  cancel(): void {
    this.cancelled = true;
    this.emit('cancelled');
  }
}

const policy: RetryPolicy = { maxAttempts: 3, initialBackoffMs: 100, maxBackoffMs: 100, attemptTimeoutMs: 5000 };

const request = (...ids: string[]): DetectRequest => ({ images: ids.map((id) => ({ id, encoded: Buffer.from(id), source: 'encoded' })), options: null });

type Outcome = { response: DetectResponse } | { error: grpc.ServiceError };

/** Starts a dispatch; the returned promise settles with its outcome once the clock is run. */
function dispatch(detectors: ScriptedDetectors, req: DetectRequest, deadline: number, options: { retry?: RetryPolicy; chunkSize?: number; parent?: ClientCall } = {}): Promise<Outcome> {
  const dispatcher = new Dispatcher(detectors, options.chunkSize ?? 8, options.retry ?? policy, log);
  const context: DispatchContext = { deadline, parent: (options.parent ?? new ClientCall()) as unknown as DispatchContext['parent'] };
  return dispatcher.detect(req, context).then(
    (response) => ({ response }),
    (error: grpc.ServiceError) => ({ error }),
  );
}

async function settle(outcome: Promise<Outcome>): Promise<Outcome> {
  await jest.runAllTimersAsync();
  return outcome;
}

beforeEach(() => {
  jest.useFakeTimers({ now: T0, doNotFake: ['nextTick', 'queueMicrotask'] });
});
afterEach(() => {
  jest.useRealTimers();
});

describe('attempt deadlines', () => {
  it('gives each attempt its share of the time left when over the 5 s floor, and the last attempt all of it', async () => {
    const detectors = new ScriptedDetectors({ a: { hang: true }, b: { hang: true }, c: { hang: true } });
    const deadline = T0 + 30_000;
    const outcome = await settle(dispatch(detectors, request('x'), deadline));
    expect(detectors.calls.map((c) => c.address)).toEqual(['a', 'b', 'c']);
    const [first, second, third] = detectors.calls;
    expect(first!.deadline - first!.at).toBe(10_000); // 30 s over 3 attempts
    expect(second!.deadline - second!.at).toBe((deadline - second!.at) / 2);
    expect(third!.deadline).toBe(deadline);
    expect(outcome).toMatchObject({ error: { code: grpc.status.DEADLINE_EXCEEDED, details: 'deadline exceeded' } });
  });

  it('gives an attempt the 5 s floor when its share of the time left is shorter', async () => {
    const detectors = new ScriptedDetectors({ a: { hang: true }, b: { hang: true }, c: { hang: true } });
    const deadline = T0 + 12_000;
    await settle(dispatch(detectors, request('x'), deadline));
    const [first, second, third] = detectors.calls;
    // Shares would be 4 s and under 3.5 s.
    expect(first!.deadline - first!.at).toBe(5000);
    expect(second!.deadline - second!.at).toBe(5000);
    // Under 2 s left: the floor is capped at the call's deadline.
    expect(deadline - third!.at).toBeLessThan(5000);
    expect(third!.deadline).toBe(deadline);
  });

  it('never gives an attempt more than the time the client left, and starts none after it', async () => {
    const detectors = new ScriptedDetectors({ a: { hang: true }, b: { answer: 'ok' } });
    const deadline = T0 + 3000;
    const outcome = await settle(dispatch(detectors, request('x'), deadline));
    // The floor (5 s) is longer than the call: the one attempt ends with the call, and the
    // detector that would have answered is never tried.
    expect(detectors.calls).toEqual([expect.objectContaining({ address: 'a', deadline })]);
    expect(outcome).toMatchObject({ error: { code: grpc.status.DEADLINE_EXCEEDED, details: 'deadline exceeded' } });
  });

  it('starts no attempt whose backoff would end at or after the client deadline', async () => {
    const detectors = new ScriptedDetectors({ a: { fail: grpc.status.RESOURCE_EXHAUSTED }, b: { fail: grpc.status.RESOURCE_EXHAUSTED } });
    const deadline = T0 + 1000;
    const retry = { ...policy, maxAttempts: 10, initialBackoffMs: 150, maxBackoffMs: 300 };
    const outcome = await settle(dispatch(detectors, request('x'), deadline, { retry }));
    expect(detectors.calls.length).toBeGreaterThan(1);
    expect(detectors.calls.length).toBeLessThan(10);
    expect(detectors.calls.every((c) => c.at < deadline)).toBe(true);
    // What the detectors said stands: the images fail, the call does not.
    expect(outcome).toEqual({
      response: { model: '', results: [{ id: 'x', status: { code: grpc.status.RESOURCE_EXHAUSTED, message: 'detectors are overloaded; retry later (every attempt failed)' }, detections: [], width: 0, height: 0 }] },
    });
  });

  it('retries on another detector when a detector answers DEADLINE_EXCEEDED before the client deadline', async () => {
    const detectors = new ScriptedDetectors({ a: { fail: grpc.status.DEADLINE_EXCEEDED }, b: { answer: 'ok' } });
    const outcome = await settle(dispatch(detectors, request('x'), T0 + 30_000));
    expect(detectors.calls.map((c) => c.address)).toEqual(['a', 'b']);
    expect(outcome).toMatchObject({ response: { model: 'scripted', results: [{ id: 'x', status: { code: grpc.status.OK } }] } });
  });

  it('moves a timed-out attempt to another detector within the same call', async () => {
    const detectors = new ScriptedDetectors({ a: { hang: true }, b: { answer: 'ok' } });
    const outcome = await settle(dispatch(detectors, request('x', 'y'), T0 + 30_000));
    expect(detectors.calls.map((c) => [c.address, c.ids])).toEqual([
      ['a', ['x', 'y']],
      ['b', ['x', 'y']],
    ]);
    // The second attempt started once the first one's own deadline (its 10 s share) had passed.
    expect(detectors.calls[1]!.at).toBeGreaterThanOrEqual(detectors.calls[0]!.deadline);
    expect(outcome).toMatchObject({ response: { results: [{ id: 'x', status: { code: 0 } }, { id: 'y', status: { code: 0 } }] } });
  });
});

describe('attempt limit', () => {
  it('makes at most maxAttempts attempts per chunk, each on a detector it has not failed on, then answers the images with the failure', async () => {
    const busy = { fail: grpc.status.RESOURCE_EXHAUSTED } as const;
    const detectors = new ScriptedDetectors({ a: busy, b: busy, c: busy, d: busy });
    const outcome = await settle(dispatch(detectors, request('x', 'y'), T0 + 30_000));
    expect(detectors.calls.map((c) => c.address)).toEqual(['a', 'b', 'c']);
    expect(outcome).toMatchObject({
      response: {
        results: ['x', 'y'].map((id) => ({ id, status: { code: grpc.status.RESOURCE_EXHAUSTED, message: 'detectors are overloaded; retry later (every attempt failed)' } })),
      },
    });
  });

  it('goes back to detectors already tried once every detector has failed the chunk', async () => {
    const detectors = new ScriptedDetectors({ a: { fail: grpc.status.UNAVAILABLE }, b: { fail: grpc.status.UNAVAILABLE } });
    const outcome = await settle(dispatch(detectors, request('x'), T0 + 30_000, { retry: { ...policy, maxAttempts: 4 } }));
    expect(detectors.calls.map((c) => c.address)).toEqual(['a', 'b', 'a', 'a']);
    // A detector that answers UNAVAILABLE is reported gone, every time.
    expect(detectors.markedUnhealthy).toEqual(['a', 'b', 'a', 'a']);
    expect(outcome).toMatchObject({ response: { results: [{ id: 'x', status: { code: grpc.status.UNAVAILABLE, message: 'no detector available (every attempt failed)' } }] } });
  });

  it('makes a single attempt when maxAttempts is 1', async () => {
    const detectors = new ScriptedDetectors({ a: { fail: grpc.status.INTERNAL }, b: { answer: 'ok' } });
    const outcome = await settle(dispatch(detectors, request('x'), T0 + 30_000, { retry: { ...policy, maxAttempts: 1 } }));
    expect(detectors.calls.map((c) => c.address)).toEqual(['a']);
    expect(outcome).toMatchObject({ response: { results: [{ id: 'x', status: { code: grpc.status.INTERNAL, message: 'detectors failed to process the images (every attempt failed)' } }] } });
  });
});

describe('cancellation', () => {
  it('ends at once when the client cancels during a backoff: CANCELLED, and no further attempt', async () => {
    const detectors = new ScriptedDetectors({ a: { fail: grpc.status.UNAVAILABLE }, b: { answer: 'ok' } });
    const client = new ClientCall();
    const outcome = dispatch(detectors, request('x'), T0 + 30_000, { retry: { ...policy, initialBackoffMs: 1000, maxBackoffMs: 1000 }, parent: client });
    await jest.advanceTimersByTimeAsync(100);
    expect(detectors.calls).toHaveLength(1); // a failed; the retry waits out its backoff
    let settled = false;
    void outcome.then(() => (settled = true));
    client.cancel();
    // The call ends there, without waiting out the rest of the backoff.
    await jest.advanceTimersByTimeAsync(0);
    expect(settled).toBe(true);
    expect(await settle(outcome)).toMatchObject({ error: { code: grpc.status.CANCELLED, details: 'cancelled' } });
    expect(detectors.calls.map((c) => c.address)).toEqual(['a']);
  });

  it('cancels the running attempt of every chunk when the client cancels', async () => {
    const detectors = new ScriptedDetectors({ a: { hang: true } });
    const client = new ClientCall();
    const outcome = dispatch(detectors, request('x', 'y', 'z'), T0 + 30_000, { chunkSize: 1, parent: client });
    await jest.advanceTimersByTimeAsync(1000);
    expect(detectors.calls.map((c) => c.cancelled)).toEqual([false, false, false]);
    client.cancel();
    expect(await settle(outcome)).toMatchObject({ error: { code: grpc.status.CANCELLED } });
    expect(detectors.calls.map((c) => [c.ids[0], c.cancelled])).toEqual([
      ['x', true],
      ['y', true],
      ['z', true],
    ]);
  });

  it('cancels the other chunks when one chunk fails the whole call', async () => {
    const detectors = new ScriptedDetectors({ a: (ids) => (ids.includes('bad') ? { fail: grpc.status.INVALID_ARGUMENT } : { hang: true }) });
    const outcome = await settle(dispatch(detectors, request('x', 'bad', 'z'), T0 + 30_000, { chunkSize: 1 }));
    expect(outcome).toMatchObject({ error: { code: grpc.status.INVALID_ARGUMENT, details: 'scripted INVALID_ARGUMENT from a' } });
    expect(detectors.calls.map((c) => [c.ids[0], c.cancelled])).toEqual([
      ['x', true],
      ['bad', false],
      ['z', true],
    ]);
  });
});
