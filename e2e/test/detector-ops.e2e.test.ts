import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { loadSsdPackage, type DetectRequestInit, type DetectResponse } from '@edge-ssd/protos';
import { builtinModel, detectCall, healthOf, jpegs, metricValue, scrapeMetrics, startService, until, waitForLine, type RunningService, type SsdClient } from '../src';

const running: RunningService[] = [];
const clients: grpc.Client[] = [];

async function detector(env: Record<string, string> = {}, options: Parameters<typeof startService>[2] = {}): Promise<RunningService> {
  const service = await startService(
    'detector',
    { MODEL_PATH: await builtinModel('mobilenet-ssd-voc-300'), DETECTOR_POOL_SIZE: '1', DETECTOR_INTRA_OP_THREADS: '1', ...env },
    options,
  );
  running.push(service);
  return service;
}

function detectorClient(port: number): SsdClient {
  const client = new (loadSsdPackage().Detector)(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  clients.push(client);
  return client;
}

function detect(client: SsdClient, encoded: Buffer[], deadlineMs = 60_000): Promise<DetectResponse> {
  const request: DetectRequestInit = { images: encoded.map((bytes, i) => ({ id: `img-${i}`, encoded: bytes })) };
  return detectCall(client, request, { deadline: Date.now() + deadlineMs });
}

const metricsPort = (service: RunningService): number => service.ready['metricsPort'] as number;
const enqueued = async (service: RunningService): Promise<number> =>
  metricValue(await scrapeMetrics(metricsPort(service)), 'detector_enqueued_images_total');
const queued = async (service: RunningService): Promise<number> => metricValue(await scrapeMetrics(metricsPort(service)), 'detector_queued_images');

afterEach(async () => {
  for (const client of clients.splice(0)) client.close();
  await Promise.all(running.splice(0).map((s) => s.stop()));
});

describe('detector operations', () => {
  it('listens at once but is NOT_SERVING while it loads and warms up its model, then SERVING', async () => {
    const service = await detector({}, { until: 'listening' });
    expect(await healthOf(service.port)).toBe('NOT_SERVING');
    expect(await healthOf(service.port, 'ssd.v1.Detector')).toBe('NOT_SERVING');
    await expect(detect(detectorClient(service.port), await jpegs(1))).rejects.toMatchObject({ code: grpc.status.UNAVAILABLE });
    await waitForLine(service, '"detector ready"');
    expect(await healthOf(service.port)).toBe('SERVING');
    expect(await healthOf(service.port, 'ssd.v1.Detector')).toBe('SERVING');
  });

  it('refuses to start without its model, saying how to make it', async () => {
    const cwd = await mkdtemp(path.join(tmpdir(), 'edge-ssd-fresh-'));
    try {
      const started = startService('detector', { MODEL_NAME: 'mobilenet-ssd-voc-300' }, { cwd });
      await expect(started).rejects.toThrow(/exited with 1 .*model mobilenet-ssd-voc-300 is not in .*npm run -s model -- prepare mobilenet-ssd-voc-300/s);
    } finally {
      await rm(cwd, { recursive: true, force: true });
    }
  });

  it('batches images of concurrent requests into shared session runs, each result going to its own request', async () => {
    const service = await detector({ DETECTOR_MAX_BATCH: '8' });
    const client = detectorClient(service.port);
    const images = await jpegs(8);
    const together = await Promise.all(images.map((image) => detect(client, [image])));
    const metrics = await scrapeMetrics(metricsPort(service));
    const runs = metricValue(metrics, 'detector_batch_size_count');
    expect(metricValue(metrics, 'detector_batch_size_sum')).toBe(8);
    expect(runs).toBeLessThan(8);
    const alone = [];
    for (const image of images) alone.push(await detect(client, [image]));
    expect(together).toEqual(alone);
  });

  it('refuses a request that does not fit the queue with RESOURCE_EXHAUSTED at once, and serves the rest', async () => {
    const service = await detector({ DETECTOR_MAX_BATCH: '1', DETECTOR_MAX_QUEUE: '16' });
    const client = detectorClient(service.port);
    const first = detect(client, await jpegs(16));
    await until(async () => (await queued(service)) >= 8, 'a queue');
    await expect(detect(client, await jpegs(10, 64, 48))).rejects.toMatchObject({ code: grpc.status.RESOURCE_EXHAUSTED });
    const served = await first;
    expect(served.results.every((r) => r.status?.code === grpc.status.OK)).toBe(true);
  });

  it('drops queued work whose deadline passed, without running it', async () => {
    const service = await detector({ DETECTOR_MAX_BATCH: '1' });
    const client = detectorClient(service.port);
    const blocker = detect(client, await jpegs(24));
    await until(async () => (await queued(service)) >= 12, 'a queue');
    const late = detect(client, await jpegs(1, 64, 48), 300);
    await until(async () => (await enqueued(service)) === 25, 'the late call to queue');
    await expect(late).rejects.toMatchObject({ code: grpc.status.DEADLINE_EXCEEDED });
    await blocker;
    await until(async () => metricValue(await scrapeMetrics(metricsPort(service)), 'detector_dropped_images_total', { reason: 'deadline' }) === 1, 'the drop');
    const metrics = await scrapeMetrics(metricsPort(service));
    // Only the blocker's 24 images ever ran.
    expect(metricValue(metrics, 'detector_batch_size_sum')).toBe(24);
    expect(metricValue(metrics, 'detector_requests_total', { code: 'OK' })).toBe(1);
  });

  it('drops the queued images of a call the client cancels', async () => {
    const service = await detector({ DETECTOR_MAX_BATCH: '1' });
    const client = detectorClient(service.port);
    const blocker = detect(client, await jpegs(24));
    await until(async () => (await queued(service)) >= 12, 'a queue');
    const [image] = await jpegs(1, 64, 48);
    const call = (client as unknown as Record<string, (...a: unknown[]) => grpc.ClientUnaryCall>)['Detect']!.call(
      client,
      { images: [{ id: 'x', encoded: image }, { id: 'y', encoded: image }] },
      () => undefined,
    );
    await until(async () => (await enqueued(service)) === 26, 'the second call to queue');
    call.cancel();
    await blocker;
    await until(async () => metricValue(await scrapeMetrics(metricsPort(service)), 'detector_dropped_images_total', { reason: 'cancelled' }) === 2, 'the drop');
    expect(metricValue(await scrapeMetrics(metricsPort(service)), 'detector_batch_size_sum')).toBe(24);
  });

  it('on SIGTERM finishes the calls in flight, refuses new ones and exits 0', async () => {
    const service = await detector({ DETECTOR_MAX_BATCH: '2' });
    const client = detectorClient(service.port);
    const inFlight = detect(client, await jpegs(10));
    await until(async () => (await queued(service)) >= 2, 'a queue');
    const exit = service.stop('SIGTERM');
    const response = await inFlight;
    expect(response.results).toHaveLength(10);
    expect(response.results.every((r) => r.status?.code === grpc.status.OK)).toBe(true);
    expect(await exit).toBe(0);
    await expect(detect(detectorClient(service.port), await jpegs(1), 2000)).rejects.toMatchObject({ code: grpc.status.UNAVAILABLE });
  });

  it('answers server reflection, so grpcurl can list and describe its services', async () => {
    const service = await detector();
    const definition = protoLoader.loadSync(require.resolve('@grpc/reflection/build/proto/grpc/reflection/v1/reflection.proto'), { keepCase: true });
    const Reflection = (grpc.loadPackageDefinition(definition) as unknown as { grpc: { reflection: { v1: { ServerReflection: grpc.ServiceClientConstructor } } } })
      .grpc.reflection.v1.ServerReflection;
    const client = new Reflection(`127.0.0.1:${service.port}`, grpc.credentials.createInsecure());
    clients.push(client);
    const stream = (client as unknown as { ServerReflectionInfo(): grpc.ClientDuplexStream<object, { list_services_response?: { service: Array<{ name: string }> } }> }).ServerReflectionInfo();
    const reply = new Promise<string[]>((resolve, reject) => {
      stream.on('data', (message) => resolve((message.list_services_response?.service ?? []).map((entry: { name: string }) => entry.name)));
      stream.on('error', reject);
    });
    stream.write({ list_services: '' });
    const names = await reply;
    stream.end();
    expect(names).toEqual(expect.arrayContaining(['ssd.v1.Detector', 'ssd.v1.Gateway']));
  });

  it('exports Prometheus metrics: requests and images by status, queue and inference time, pool and process', async () => {
    const service = await detector();
    const client = detectorClient(service.port);
    await detect(client, [...(await jpegs(2)), Buffer.from('garbage')]);
    const metrics = await scrapeMetrics(metricsPort(service));
    expect(metricValue(metrics, 'detector_requests_total', { code: 'OK' })).toBe(1);
    expect(metricValue(metrics, 'detector_images_total', { code: 'OK' })).toBe(2);
    expect(metricValue(metrics, 'detector_images_total', { code: 'INVALID_ARGUMENT' })).toBe(1);
    expect(metricValue(metrics, 'detector_queue_seconds_count')).toBe(2);
    expect(metricValue(metrics, 'detector_inference_seconds_count')).toBeGreaterThanOrEqual(1);
    expect(metrics).toContain('detector_pool_utilization');
    expect(metricValue(metrics, 'detector_process_resident_memory_bytes')).toBeGreaterThan(0);
  });
});
