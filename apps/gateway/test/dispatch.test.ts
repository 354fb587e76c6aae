// The dispatcher against real gRPC detectors whose behaviour each test scripts (in-process
// servers speaking ssd.v1.Detector and grpc.health.v1), called through a real gRPC front so that
// deadlines and cancellation propagate exactly as in the gateway.
import * as grpc from '@grpc/grpc-js';
import { HealthImplementation } from 'grpc-health-check';
import { loadSsdPackage, type DetectRequest, type DetectResponse, type GatewayClient, type ImageResult } from '@edge-ssd/protos';
import { bindServer, createLogger, grpcError, unary } from '@edge-ssd/service-kit';
import { backoffMs, chunk, Dispatcher, RETRYABLE, type RetryPolicy } from '../src/service/dispatch';
import { DetectorSet } from '../src/upstream/detector-set';

const log = createLogger('dispatch-test', 'error');
const { Detector, Gateway } = loadSsdPackage();

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

async function fakeDetector(behaviour: Behaviour): Promise<FakeDetector> {
  const server = new grpc.Server();
  new HealthImplementation({ '': 'SERVING', 'ssd.v1.Detector': 'SERVING' }).addToServer(server);
  const calls: FakeDetector['calls'] = [];
  server.addService(Detector.service, {
    Detect(call: grpc.ServerUnaryCall<DetectRequest, DetectResponse>, callback: grpc.sendUnaryData<DetectResponse>) {
      const record = { ids: call.request.images.map((i) => i.id), cancelled: false };
      calls.push(record);
      call.once('cancelled', () => (record.cancelled = true));
      behaviour(call.request, call).then(
        (response) => callback(null, response),
        (error: grpc.ServiceError) => callback(error),
      );
    },
    GetModelInfo(_call: unknown, callback: grpc.sendUnaryData<unknown>) {
      callback(grpcError(grpc.status.UNIMPLEMENTED, 'no'));
    },
  });
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
  server.addService(Gateway.service, {
    Detect(call: grpc.ServerUnaryCall<DetectRequest, DetectResponse>, callback: grpc.sendUnaryData<DetectResponse>) {
      const deadline = call.getDeadline();
      dispatcher.detect(call.request, { deadline: deadline instanceof Date ? deadline.getTime() : deadline, parent: call }).then(
        (response) => callback(null, response),
        (error: grpc.ServiceError) => callback(error),
      );
    },
    GetModelInfo(_call: unknown, callback: grpc.sendUnaryData<unknown>) {
      callback(grpcError(grpc.status.UNIMPLEMENTED, 'no'));
    },
  });
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

  it('retry what another detector may not share, never a bad request', () => {
    expect(RETRYABLE.has(grpc.status.UNAVAILABLE)).toBe(true);
    expect(RETRYABLE.has(grpc.status.RESOURCE_EXHAUSTED)).toBe(true);
    expect(RETRYABLE.has(grpc.status.INVALID_ARGUMENT)).toBe(false);
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
    const started = Date.now();
    const response = await detect(client, ['a', 'b'], 3000);
    expect(response.results.map((r) => r.status!.code)).toEqual([0, 0]);
    // A stuck attempt got a third of the 3 s, not all of it.
    expect(Date.now() - started).toBeLessThan(2500);
    await new Promise((r) => setTimeout(r, 50));
    expect(stuck.calls.every((c) => c.cancelled)).toBe(true);
  });

  it('cancels the other chunks when one fails the whole call, and says why', async () => {
    const judge = await fakeDetector(async (r, call) => {
      if (r.images.some((i) => i.id === 'bad')) throw grpcError(grpc.status.INVALID_ARGUMENT, 'image bad is not allowed');
      return never(call);
    });
    const client = await front([judge], 1);
    await expect(detect(client, ['x', 'bad', 'y'], 5000)).rejects.toMatchObject({ code: grpc.status.INVALID_ARGUMENT, details: 'image bad is not allowed' });
    await new Promise((r) => setTimeout(r, 100));
    const others = judge.calls.filter((c) => !c.ids.includes('bad'));
    expect(others.length).toBe(2);
    expect(others.every((c) => c.cancelled)).toBe(true);
  });

  it('starts no new attempt once the client has cancelled', async () => {
    const down = await fakeDetector(async () => Promise.reject(grpcError(grpc.status.UNAVAILABLE, 'down')));
    const client = await front([down], 8, { ...policy, maxAttempts: 10, initialBackoffMs: 100, maxBackoffMs: 100 });
    const call = client.Detect({ images: images('a') }, () => undefined);
    await new Promise((r) => setTimeout(r, 120));
    call.cancel();
    const seen = down.calls.length;
    await new Promise((r) => setTimeout(r, 400));
    expect(seen).toBeGreaterThanOrEqual(1);
    expect(down.calls.length).toBeLessThanOrEqual(seen + 1);
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
  });
});
