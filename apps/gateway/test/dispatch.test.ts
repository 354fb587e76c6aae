// The dispatcher against real gRPC detectors whose behaviour each test scripts (in-process
// servers speaking ssd.v1.Detector and grpc.health.v1), called through a real gRPC front so that
// deadlines and cancellation propagate exactly as in the gateway.
import * as grpc from '@grpc/grpc-js';
import { loadSsdPackage, type DetectRequest, type DetectResponse, type GatewayClient, type ImageResult } from '@edge-ssd/protos';
import { addOperationalServices, bindServer, createLogger, grpcError, unary } from '@edge-ssd/service-kit';
import { backoffMs, chunk, Dispatcher, type RetryPolicy } from '../src/service/dispatch';
import { DetectorSet } from '../src/upstream/detector-set';
import { until } from '@edge-ssd/service-kit/testing';

/** The gateway's log: where detector addresses and upstream details go instead of the client. */
const logLines: string[] = [];
const log = createLogger('dispatch-test', 'warn', (line) => logLines.push(line));
const { definition, Detector, Gateway } = loadSsdPackage();

type Behaviour = (request: DetectRequest, call: grpc.ServerUnaryCall<DetectRequest, DetectResponse>) => Promise<DetectResponse>;

interface FakeDetector {
  address: string;
  calls: Array<{ ids: string[]; cancelled: boolean }>;
  close(): void;
}

const ok = (id: string): ImageResult => ({ id, status: { code: grpc.status.OK, message: '' }, detections: [], width: 1, height: 1 });
const answer = (request: DetectRequest): DetectResponse => ({ results: request.images.map((i) => ok(i.id)), model: 'fake' });
const never = (call: grpc.ServerUnaryCall<unknown, unknown>): Promise<never> => new Promise((_, reject) => call.once('cancelled', () => reject(grpcError(grpc.status.CANCELLED, 'gone'))));

const servers: Array<{ close(): void }> = [];
/** Every dispatch the fronts started, settled: once these are, no attempt can start any more. */
const dispatches: Array<Promise<unknown>> = [];


/** Handlers of a service whose Detect answers with `detect`; GetModelInfo is not implemented. */
function detectOnly(detect: (call: grpc.ServerUnaryCall<DetectRequest, DetectResponse>) => Promise<DetectResponse>): grpc.UntypedServiceImplementation {
  return {
    Detect(call: grpc.ServerUnaryCall<DetectRequest, DetectResponse>, callback: grpc.sendUnaryData<DetectResponse>) {
      detect(call).then(
        (response) => callback(null, response),
        (error: grpc.ServiceError) => callback(error),
      );
    },
    GetModelInfo(_call: unknown, callback: grpc.sendUnaryData<unknown>) {
      callback(grpcError(grpc.status.UNIMPLEMENTED, 'no'));
    },
  };
}

async function fakeDetector(behaviour: Behaviour): Promise<FakeDetector> {
  const server = new grpc.Server();
  addOperationalServices(server, definition, ['ssd.v1.Detector']).set('SERVING');
  const calls: FakeDetector['calls'] = [];
  server.addService(Detector.service, detectOnly((call) => {
    const record = { ids: call.request.images.map((i) => i.id), cancelled: false };
    calls.push(record);
    call.once('cancelled', () => (record.cancelled = true));
    return behaviour(call.request, call);
  }));
  const port = await bindServer(server, '127.0.0.1:0');
  const fake = { address: `127.0.0.1:${port}`, calls, close: () => server.forceShutdown() };
  servers.push(fake);
  return fake;
}

const policy: RetryPolicy = { maxAttempts: 3, initialBackoffMs: 5, maxBackoffMs: 20, attemptTimeoutMs: 200 };

/** A gateway front whose Detect is the dispatcher, over these detectors; returns a client of it. */
async function front(detectors: FakeDetector[], chunkSize = 2, retry = policy): Promise<GatewayClient> {
  const set = new DetectorSet({ credentials: grpc.credentials.createInsecure(), channelOptions: {}, healthIntervalMs: 50, log });
  set.update(detectors.map((d) => d.address));
  for (let i = 0; i < 200 && set.healthyCount < detectors.length; i++) await new Promise((r) => setTimeout(r, 10));
  const dispatcher = new Dispatcher(set, chunkSize, retry, log);
  const server = new grpc.Server();
  server.addService(Gateway.service, detectOnly((call) => {
    const deadline = call.getDeadline();
    const dispatched = dispatcher.detect(call.request, { deadline: deadline instanceof Date ? deadline.getTime() : deadline, parent: call });
    dispatches.push(dispatched.catch(() => undefined));
    return dispatched;
  }));
  const port = await bindServer(server, '127.0.0.1:0');
  const client = new Gateway(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  servers.push({ close: () => (client.close(), set.close(), server.forceShutdown()) });
  return client;
}

const images = (...ids: string[]) => ids.map((id) => ({ id, encoded: Buffer.from(id) }));
const detect = (client: GatewayClient, ids: string[], deadlineMs = 5000) =>
  unary<DetectResponse>((done) => client.Detect({ images: images(...ids) }, new grpc.Metadata(), { deadline: Date.now() + deadlineMs }, done));

afterEach(() => {
  for (const s of servers.splice(0)) s.close();
  dispatches.length = 0;
  logLines.length = 0;
});

describe('sharding', () => {
  it('cuts a batch into chunks of the configured size, in order', () => {
    expect(chunk([1, 2, 3, 4, 5], 2)).toEqual([[1, 2], [3, 4], [5]]);
    expect(chunk([1, 2], 8)).toEqual([[1, 2]]);
    expect(chunk([], 3)).toEqual([]);
  });
});

describe('retries', () => {
  it('back off exponentially with jitter, up to the ceiling', () => {
    const p = { initialBackoffMs: 50, maxBackoffMs: 300 };
    expect(backoffMs(1, p, () => 0)).toBe(25);
    expect(backoffMs(1, p, () => 1)).toBe(50);
    expect(backoffMs(3, p, () => 1)).toBe(200);
    expect(backoffMs(10, p, () => 1)).toBe(300);
  });

  it('give each attempt at least its floor, else an equal share of the time left', () => {
    const d = new Dispatcher({} as DetectorSet, 8, { ...policy, attemptTimeoutMs: 1000 }, log);
    expect(d.attemptDeadline(30_000, 3, 0)).toBe(10_000);
    expect(d.attemptDeadline(1_500, 3, 0)).toBe(1_000);
    expect(d.attemptDeadline(500, 3, 0)).toBe(500);
  });
});

describe('dispatch over detectors', () => {
  it('sends a failed chunk to another detector, not back to the one that failed it', async () => {
    const down = await fakeDetector(async () => Promise.reject(grpcError(grpc.status.UNAVAILABLE, 'overloaded')));
    const up = await fakeDetector(async (r) => answer(r));
    const response = await detect(await front([down, up]), ['a', 'b', 'c', 'd']);
    expect(response.results.map((r) => [r.id, r.status!.code])).toEqual(['a', 'b', 'c', 'd'].map((id) => [id, grpc.status.OK]));
    // Each chunk met the failing detector at most once.
    expect(down.calls.length).toBeLessThanOrEqual(2);
    expect(up.calls.flatMap((c) => c.ids).sort()).toEqual(['a', 'b', 'c', 'd']);
  });

  it('retries only the images a detector failed itself (per-image INTERNAL), keeping its other answers', async () => {
    const flaky = await fakeDetector(async (r) => ({
      results: r.images.map((i) => (i.id === 'b' ? { ...ok(i.id), status: { code: grpc.status.INTERNAL, message: 'inference failed' } } : ok(i.id))),
      model: 'fake',
    }));
    const healthy = await fakeDetector(async (r) => answer(r));
    const client = await front([flaky, healthy], 4);
    for (let i = 0; i < 4; i++) {
      const response = await detect(client, ['a', 'b', 'c']);
      expect(response.results.map((r) => [r.id, r.status!.code])).toEqual([['a', 0], ['b', 0], ['c', 0]]);
    }
    // Whenever the flaky detector answered, only 'b' went on to the healthy one.
    const retried = healthy.calls.filter((c) => c.ids.length === 1);
    expect(retried.length).toBe(flaky.calls.length);
    expect(retried.every((c) => c.ids[0] === 'b')).toBe(true);
  });

  it('gives a stuck detector its share of the deadline, cancels that attempt and answers from another', async () => {
    const stuck = await fakeDetector(async (_r, call) => never(call));
    const healthy = await fakeDetector(async (r) => answer(r));
    const client = await front([stuck, healthy], 1);
    // Were a stuck attempt given the whole 3 s instead of a third of it, the call would end DEADLINE_EXCEEDED.
    const response = await detect(client, ['a', 'b'], 3000);
    expect(response.results.map((r) => r.status!.code)).toEqual([0, 0]);
    await until(() => stuck.calls.every((c) => c.cancelled), 'the stuck attempts are cancelled');
    expect(stuck.calls.length).toBeGreaterThanOrEqual(1);
  });

  it('cancels the other chunks when one fails the whole call, and says why', async () => {
    const judge = await fakeDetector(async (r, call) => {
      if (r.images.some((i) => i.id === 'bad')) throw grpcError(grpc.status.INVALID_ARGUMENT, 'image bad is not allowed');
      return never(call);
    });
    const client = await front([judge], 1);
    await expect(detect(client, ['x', 'bad', 'y'], 5000)).rejects.toMatchObject({ code: grpc.status.INVALID_ARGUMENT, details: 'image bad is not allowed' });
    const others = (): FakeDetector['calls'] => judge.calls.filter((c) => !c.ids.includes('bad'));
    await until(() => others().length === 2 && others().every((c) => c.cancelled), 'the other chunks are cancelled');
    expect(others().map((c) => c.ids[0]).sort()).toEqual(['x', 'y']);
  });

  it('cancels every chunk\'s detector call when the client cancels, and starts no attempt after that', async () => {
    const stuck = await fakeDetector(async (_r, call) => never(call));
    const client = await front([stuck], 1, { ...policy, maxAttempts: 10 });
    const call = client.Detect({ images: images('a', 'b', 'c') }, new grpc.Metadata(), { deadline: Date.now() + 30_000 }, () => undefined);
    await until(() => stuck.calls.length === 3, 'every chunk reaches the detector');
    call.cancel();
    expect(dispatches).toHaveLength(1);
    await Promise.all(dispatches);
    await until(() => stuck.calls.every((c) => c.cancelled), 'the detector sees every call cancelled');
    // The dispatch is over: no retry went out after the cancellation.
    expect(stuck.calls.map((c) => c.ids[0]).sort()).toEqual(['a', 'b', 'c']);
  });

  it('answers DEADLINE_EXCEEDED when the call runs out of time on stuck detectors', async () => {
    const stuck = await fakeDetector(async (_r, call) => never(call));
    const client = await front([stuck], 8, { ...policy, attemptTimeoutMs: 10_000 });
    await expect(detect(client, ['a'], 400)).rejects.toMatchObject({ code: grpc.status.DEADLINE_EXCEEDED });
  });

  it('never shows a detector address or an upstream message to the client', async () => {
    const broken = await fakeDetector(async () => Promise.reject(grpcError(grpc.status.INTERNAL, 'connect ECONNREFUSED 10.1.2.3:50052 (grpc-js internals)')));
    const response = await detect(await front([broken], 8), ['a']);
    expect(response.results[0]!.status!.code).toBe(grpc.status.INTERNAL);
    expect(response.results[0]!.status!.message).toBe('detectors failed to process the images (every attempt failed)');
    expect(JSON.stringify(response)).not.toMatch(/10\.1\.2\.3|ECONNREFUSED|127\.0\.0\.1|grpc-js/);
    // They are in the gateway's log instead, for the operator.
    expect(logLines.some((line) => line.includes(broken.address) && line.includes('ECONNREFUSED 10.1.2.3:50052'))).toBe(true);
  });
});

const failing = (code: grpc.status): Behaviour => async () => Promise.reject(grpcError(code, `upstream says ${grpc.status[code]} at 10.9.8.7:50052`));
const status = (code: grpc.status, message = ''): ImageResult['status'] => ({ code, message });
const named = (...codes: grpc.status[]): Array<[string, grpc.status]> => codes.map((code) => [grpc.status[code], code]);
const statuses = (response: DetectResponse) => response.results.map((r) => [r.id, r.status?.code, r.status?.message]);

describe('which detector failures are retried', () => {
  it.each(named(grpc.status.UNAVAILABLE, grpc.status.RESOURCE_EXHAUSTED, grpc.status.INTERNAL, grpc.status.UNKNOWN, grpc.status.ABORTED))(
    'retries a chunk its detector failed with %s, up to maxAttempts (3) attempts',
    async (_name, code) => {
      const only = await fakeDetector(failing(code));
      const response = await detect(await front([only], 8), ['a']);
      expect(only.calls).toHaveLength(policy.maxAttempts);
      expect(response.results[0]!.status!.code).toBe(code);
      expect(response.results[0]!.status!.message).toMatch(/\(every attempt failed\)$/);
      expect(response.results[0]!.status!.message).not.toMatch(/upstream|10\.9\.8\.7/);
    },
  );

  it('retries a chunk whose detector answered DEADLINE_EXCEEDED while the client still had time', async () => {
    const only = await fakeDetector(failing(grpc.status.DEADLINE_EXCEEDED));
    const response = await detect(await front([only], 8), ['a'], 10_000);
    expect(only.calls).toHaveLength(policy.maxAttempts);
    // Answered as a detector that could not be reached in time, not as the client's deadline.
    expect(statuses(response)).toEqual([['a', grpc.status.UNAVAILABLE, 'no detector available (every attempt failed)']]);
  });

  it.each(
    named(
      grpc.status.NOT_FOUND,
      grpc.status.ALREADY_EXISTS,
      grpc.status.FAILED_PRECONDITION,
      grpc.status.OUT_OF_RANGE,
      grpc.status.UNIMPLEMENTED,
      grpc.status.DATA_LOSS,
    ),
  )('does not retry a chunk failed with %s: its images get that code and a generic message', async (_name, code) => {
    const only = await fakeDetector(failing(code));
    const response = await detect(await front([only], 8), ['a', 'b']);
    expect(only.calls).toHaveLength(1);
    expect(statuses(response)).toEqual(['a', 'b'].map((id) => [id, code, 'detectors failed to process the images (every attempt failed)']));
  });

  it('fails the whole call on INVALID_ARGUMENT, once, with the detector\'s words (they describe the request)', async () => {
    const judge = await fakeDetector(async () => Promise.reject(grpcError(grpc.status.INVALID_ARGUMENT, 'score_threshold must be in [0, 1), got 2')));
    await expect(detect(await front([judge], 8), ['a'])).rejects.toMatchObject({ code: grpc.status.INVALID_ARGUMENT, details: 'score_threshold must be in [0, 1), got 2' });
    expect(judge.calls).toHaveLength(1);
  });

  it.each(named(grpc.status.UNAUTHENTICATED, grpc.status.PERMISSION_DENIED))(
    'answers a detector refusing the gateway (%s) as INTERNAL, once: the deployment is at fault, not the client',
    async (_name, code) => {
      const refusing = await fakeDetector(failing(code));
      const response = await detect(await front([refusing], 8), ['a']);
      expect(refusing.calls).toHaveLength(1);
      expect(statuses(response)).toEqual([['a', grpc.status.INTERNAL, 'detectors failed to process the images (every attempt failed)']]);
    },
  );

  it('retries a chunk its detector CANCELLED while the client is still waiting, and answers UNAVAILABLE when all did', async () => {
    const draining = await fakeDetector(failing(grpc.status.CANCELLED));
    const response = await detect(await front([draining], 8), ['a']);
    expect(draining.calls).toHaveLength(policy.maxAttempts);
    expect(statuses(response)).toEqual([['a', grpc.status.UNAVAILABLE, 'no detector available (every attempt failed)']]);
  });
});

describe('which detector a retry goes to', () => {
  it('never sends a chunk back to a detector that failed it while another is left', async () => {
    // RESOURCE_EXHAUSTED leaves the detector healthy: only the exclusion keeps the retries off it.
    const busy = await fakeDetector(failing(grpc.status.RESOURCE_EXHAUSTED));
    const idle = await fakeDetector(async (r) => answer(r));
    const response = await detect(await front([busy, idle], 1), ['a', 'b', 'c', 'd']);
    expect(statuses(response)).toEqual(['a', 'b', 'c', 'd'].map((id) => [id, grpc.status.OK, '']));
    // Round robin gave each detector two of the four chunks; the busy one saw each of its two once.
    expect(busy.calls).toHaveLength(2);
    expect(idle.calls).toHaveLength(4);
    expect(idle.calls.flatMap((c) => c.ids).sort()).toEqual(['a', 'b', 'c', 'd']);
  });
});

describe('per-image failures', () => {
  const failingImage = (bad: string, code: grpc.status, message: string): Behaviour => async (r) => ({
    results: r.images.map((i) => (i.id === bad ? { ...ok(i.id), status: status(code, message) } : ok(i.id))),
    model: 'fake',
  });

  it('retries an image its detector answered UNAVAILABLE, on another detector', async () => {
    const flaky = await fakeDetector(failingImage('b', grpc.status.UNAVAILABLE, 'session lost'));
    const healthy = await fakeDetector(async (r) => answer(r));
    const client = await front([flaky, healthy], 4);
    for (let i = 0; i < 2; i++) expect(statuses(await detect(client, ['a', 'b']))).toEqual([['a', 0, ''], ['b', 0, '']]);
    expect(flaky.calls.length).toBeGreaterThanOrEqual(1);
    expect(healthy.calls.filter((c) => c.ids.length === 1).map((c) => c.ids)).toEqual(flaky.calls.map(() => ['b']));
  });

  it('keeps an image the detector refused (INVALID_ARGUMENT, RESOURCE_EXHAUSTED) as answered: it is not retried', async () => {
    const judge = await fakeDetector(async (r) => ({
      results: r.images.map((i) =>
        i.id === 'corrupt'
          ? { ...ok(i.id), status: status(grpc.status.INVALID_ARGUMENT, 'unsupported or corrupt image') }
          : i.id === 'huge'
            ? { ...ok(i.id), status: status(grpc.status.RESOURCE_EXHAUSTED, 'image exceeds the pixel limit') }
            : ok(i.id),
      ),
      model: 'fake',
    }));
    const response = await detect(await front([judge], 8), ['corrupt', 'fine', 'huge']);
    expect(judge.calls).toHaveLength(1);
    expect(statuses(response)).toEqual([
      ['corrupt', grpc.status.INVALID_ARGUMENT, 'unsupported or corrupt image'],
      ['fine', grpc.status.OK, ''],
      ['huge', grpc.status.RESOURCE_EXHAUSTED, 'image exceeds the pixel limit'],
    ]);
  });

  it('sends on only the failed images, and keeps the last detector answer for an image that fails every attempt', async () => {
    const only = await fakeDetector(failingImage('b', grpc.status.INTERNAL, 'inference failed'));
    const response = await detect(await front([only], 8), ['a', 'b', 'c']);
    expect(only.calls.map((c) => c.ids)).toEqual([['a', 'b', 'c'], ['b'], ['b']]);
    expect(statuses(response)).toEqual([['a', 0, ''], ['b', grpc.status.INTERNAL, 'inference failed'], ['c', 0, '']]);
  });

  it('retries an image answered without a status', async () => {
    let first = true;
    const only = await fakeDetector(async (r) => {
      const response = { results: r.images.map((i) => (first && i.id === 'b' ? { id: i.id, detections: [], width: 0, height: 0 } : ok(i.id))), model: 'fake' };
      first = false;
      return response as DetectResponse;
    });
    const response = await detect(await front([only], 8), ['a', 'b']);
    expect(only.calls.map((c) => c.ids)).toEqual([['a', 'b'], ['b']]);
    expect(statuses(response)).toEqual([['a', 0, ''], ['b', 0, '']]);
  });

  it('gives an image answered without a status on the last attempt a status of its own', async () => {
    const only = await fakeDetector(async (r) => ({ results: r.images.map((i) => (i.id === 'b' ? { id: i.id, detections: [], width: 0, height: 0 } : ok(i.id))), model: 'fake' }) as DetectResponse);
    const response = await detect(await front([only], 8), ['a', 'b']);
    expect(only.calls).toHaveLength(policy.maxAttempts);
    expect(statuses(response)).toEqual([['a', 0, ''], ['b', grpc.status.INTERNAL, 'detectors failed to process the images']]);
  });

  it('treats an answer with the wrong number of results as a failed attempt, retried whole elsewhere', async () => {
    const short = await fakeDetector(async (r) => ({ results: r.images.slice(1).map((i) => ok(i.id)), model: 'fake' }));
    const healthy = await fakeDetector(async (r) => answer(r));
    const client = await front([short, healthy], 8);
    for (let i = 0; i < 2; i++) expect(statuses(await detect(client, ['a', 'b']))).toEqual([['a', 0, ''], ['b', 0, '']]);
    expect(short.calls.length).toBeGreaterThanOrEqual(1);
    expect(healthy.calls.map((c) => c.ids)).toEqual([['a', 'b'], ['a', 'b']]);
  });
});
