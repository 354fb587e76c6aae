import { execFileSync } from 'node:child_process';
import { appendFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { loadSsdPackage, type DetectRequestInit, type DetectResponse, type ImageResult } from '@edge-ssd/protos';
import { builtinModel, detectCall, modelInfoOf, healthOf, jpegs, metricValue, scrapeMetrics, startService, until, type RunningService, type SsdClient } from '../src';

const running: RunningService[] = [];
const clients: SsdClient[] = [];
let scratch: string;

beforeAll(async () => {
  scratch = await mkdtemp(path.join(tmpdir(), 'edge-ssd-gateway-'));
});

afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
});

afterEach(async () => {
  for (const client of clients.splice(0)) client.close();
  await Promise.all(running.splice(0).map((s) => s.stop('SIGKILL')));
});

async function detector(env: Record<string, string> = {}): Promise<RunningService> {
  const service = await startService('detector', {
    MODEL_PATH: await builtinModel('mobilenet-ssd-voc-300'),
    DETECTOR_POOL_SIZE: '1',
    // One worker of one thread: a queue builds behind a few images, whatever the machine.
    DETECTOR_INTRA_OP_THREADS: '1',
    DETECTOR_MAX_BATCH: '4',
    ...env,
  });
  running.push(service);
  return service;
}

async function gateway(env: Record<string, string>): Promise<RunningService> {
  const service = await startService('gateway', {
    GATEWAY_HEALTH_INTERVAL_MS: '100',
    GATEWAY_RETRY_INITIAL_BACKOFF_MS: '20',
    ...env,
  });
  running.push(service);
  return service;
}

function client(kind: 'Gateway' | 'Detector', port: number, credentials = grpc.credentials.createInsecure(), options: grpc.ChannelOptions = {}): SsdClient {
  const c = new (loadSsdPackage()[kind])(`127.0.0.1:${port}`, credentials, options);
  clients.push(c);
  return c;
}

function detect(c: SsdClient, images: Array<{ id: string; encoded: Buffer }>, options: grpc.CallOptions = {}, metadata?: grpc.Metadata): Promise<DetectResponse> {
  const request: DetectRequestInit = { images };
  return detectCall(c, request, options, metadata);
}

const metricsOf = (s: RunningService): Promise<string> => scrapeMetrics(s.ready['metricsPort'] as number);

describe('gateway over several detectors', () => {
  it('loses nothing when a detector is killed mid-stream: 200 requests all answered, each image once and as a single detector answers it', async () => {
    const detectors = await Promise.all([detector(), detector(), detector()]);
    const gw = await gateway({ DETECTOR_TARGET: detectors.map((d) => `127.0.0.1:${d.port}`).join(','), GATEWAY_CHUNK_SIZE: '2' });
    await until(async () => metricValue(await metricsOf(gw), 'gateway_healthy_detectors') === 3, 'three healthy detectors');
    const distinct = await jpegs(6, 320, 240);
    // The reference: every distinct image once, straight to one detector.
    const direct = client('Detector', detectors[0]!.port);
    const expected = (await detect(direct, distinct.map((encoded, i) => ({ id: `ref-${i}`, encoded })))).results;
    const gwClient = client('Gateway', gw.port);
    const requests = Array.from({ length: 200 }, (_, r) =>
      Array.from({ length: 3 + (r % 3) }, (_, k) => ({ id: `r${r}-i${k}`, image: (r + k) % distinct.length })),
    );
    const answers: DetectResponse[] = new Array(requests.length);
    let next = 0;
    let done = 0;
    let killed = false;
    const worker = async (): Promise<void> => {
      while (next < requests.length) {
        const r = next++;
        answers[r] = await detect(gwClient, requests[r]!.map(({ id, image }) => ({ id, encoded: distinct[image]! })));
        if (++done === 60 && !killed) {
          killed = true;
          detectors[1]!.process.kill('SIGKILL');
        }
      }
    };
    await Promise.all(Array.from({ length: 8 }, worker));
    expect(killed).toBe(true);
    let images = 0;
    requests.forEach((request, r) => {
      const results = answers[r]!.results;
      expect(results.map((x) => x.id)).toEqual(request.map((x) => x.id));
      request.forEach(({ image }, k) => {
        const got: ImageResult = results[k]!;
        expect(got.status!.code).toBe(grpc.status.OK);
        expect({ ...got, id: '' }).toEqual({ ...expected[image]!, id: '' });
        images++;
      });
    });
    const metrics = await metricsOf(gw);
    const retries = metricValue(metrics, 'gateway_retries_total', { code: 'UNAVAILABLE' }) + metricValue(metrics, 'gateway_retries_total', { code: 'INTERNAL' });
    console.log(`fault test: ${requests.length} requests, ${images} images, ${retries} retries, 0 lost`);
    expect(metricValue(metrics, 'gateway_requests_total', { code: 'OK' })).toBe(200);
    expect(metricValue(metrics, 'gateway_images_total', { code: 'OK' })).toBe(images);
  });

  it('sends traffic to a detector added while it runs', async () => {
    const first = await detector();
    const list = path.join(scratch, 'detectors');
    await writeFile(list, `# detectors\n127.0.0.1:${first.port}\n`);
    const gw = await gateway({ DETECTOR_TARGET: `file://${list}`, GATEWAY_RESOLVE_INTERVAL_MS: '100', GATEWAY_CHUNK_SIZE: '1' });
    const gwClient = client('Gateway', gw.port);
    const images = (await jpegs(2, 160, 120)).map((encoded, i) => ({ id: `${i}`, encoded }));
    await detect(gwClient, images);
    const second = await detector();
    await appendFile(list, `127.0.0.1:${second.port}\n`);
    await until(async () => {
      await detect(gwClient, images);
      return metricValue(await metricsOf(second), 'detector_requests_total', { code: 'OK' }) > 0;
    }, 'the new detector to be used');
  });

  it('is ready (ssd.v1.Gateway SERVING) only while some detector is, and stays live ("" SERVING) without one', async () => {
    const d = await detector();
    const gw = await gateway({ DETECTOR_TARGET: `127.0.0.1:${d.port}` });
    await until(async () => (await healthOf(gw.port, 'ssd.v1.Gateway')) === 'SERVING', 'SERVING');
    d.process.kill('SIGKILL');
    await until(async () => (await healthOf(gw.port, 'ssd.v1.Gateway')) === 'NOT_SERVING', 'NOT_SERVING');
    // Liveness must not restart a gateway for its detectors' sake.
    expect(await healthOf(gw.port)).toBe('SERVING');
  });

  it('carries the client deadline and cancellation to the detectors, whose queued work is dropped', async () => {
    const d = await detector({ DETECTOR_MAX_BATCH: '1' });
    const gw = await gateway({ DETECTOR_TARGET: `127.0.0.1:${d.port}` });
    const gwClient = client('Gateway', gw.port);
    const blocker = detect(client('Detector', d.port), (await jpegs(32)).map((encoded, i) => ({ id: `${i}`, encoded })));
    await until(async () => metricValue(await metricsOf(d), 'detector_queued_images') >= 16, 'a queue');
    const [late, cancelled] = (await jpegs(2, 64, 48, 50)).map((encoded, i) => ({ id: `${i}`, encoded }));
    const lateCall = detect(gwClient, [late!], { deadline: Date.now() + 400 });
    const call = (gwClient as unknown as Record<string, (...a: unknown[]) => grpc.ClientUnaryCall>)['Detect']!.call(
      gwClient,
      { images: [cancelled] },
      () => undefined,
    );
    await until(async () => metricValue(await metricsOf(d), 'detector_enqueued_images_total') === 34, 'both calls to reach the detector queue');
    call.cancel();
    await expect(lateCall).rejects.toMatchObject({ code: grpc.status.DEADLINE_EXCEEDED });
    await blocker;
    await until(async () => {
      const m = await metricsOf(d);
      return metricValue(m, 'detector_dropped_images_total', { reason: 'deadline' }) === 1 && metricValue(m, 'detector_dropped_images_total', { reason: 'cancelled' }) === 1;
    }, 'both drops');
    expect(metricValue(await metricsOf(d), 'detector_batch_size_sum')).toBe(32);
  });

  it('refuses calls without the right bearer token, while health stays open', async () => {
    const d = await detector();
    const tokens = path.join(scratch, 'tokens');
    await writeFile(tokens, 'first-secret\n# rotated in next week:\nsecond-secret\n');
    const gw = await gateway({ DETECTOR_TARGET: `127.0.0.1:${d.port}`, GATEWAY_AUTH_TOKENS_FILE: tokens });
    const gwClient = client('Gateway', gw.port);
    const images = (await jpegs(1, 64, 48)).map((encoded) => ({ id: 'x', encoded }));
    const bearer = (token: string): grpc.Metadata => {
      const m = new grpc.Metadata();
      m.set('authorization', `Bearer ${token}`);
      return m;
    };
    await expect(detect(gwClient, images)).rejects.toMatchObject({ code: grpc.status.UNAUTHENTICATED });
    await expect(detect(gwClient, images, {}, bearer('wrong'))).rejects.toMatchObject({ code: grpc.status.UNAUTHENTICATED });
    await expect(modelInfoOf(gwClient)).rejects.toMatchObject({ code: grpc.status.UNAUTHENTICATED });
    expect((await detect(gwClient, images, {}, bearer('second-secret'))).results[0]!.status!.code).toBe(grpc.status.OK);
    expect(await healthOf(gw.port)).toBe('SERVING');
    expect(gw.output.join('\n')).not.toContain('secret');
  });

  it('serves TLS to clients and mutual TLS to detectors with certificates made for the test', async () => {
    const pki = path.join(scratch, 'pki');
    makePki(pki);
    const file = (name: string): string => path.join(pki, name);
    const d = await detector({ DETECTOR_TLS_CERT: file('detector.crt'), DETECTOR_TLS_KEY: file('detector.key'), DETECTOR_TLS_CLIENT_CA: file('ca.crt') });
    const gw = await gateway({
      DETECTOR_TARGET: `127.0.0.1:${d.port}`,
      GATEWAY_TLS_CERT: file('gateway.crt'),
      GATEWAY_TLS_KEY: file('gateway.key'),
      GATEWAY_DETECTOR_TLS_CA: file('ca.crt'),
      GATEWAY_DETECTOR_TLS_CERT: file('client.crt'),
      GATEWAY_DETECTOR_TLS_KEY: file('client.key'),
    });
    const ca = await readFile(file('ca.crt'));
    const secure = client('Gateway', gw.port, grpc.credentials.createSsl(ca), { 'grpc.ssl_target_name_override': 'localhost' });
    const images = (await jpegs(1, 64, 48)).map((encoded) => ({ id: 'x', encoded }));
    expect((await detect(secure, images)).results[0]!.status!.code).toBe(grpc.status.OK);
    await expect(detect(client('Gateway', gw.port), images, { deadline: Date.now() + 3000 })).rejects.toMatchObject({ code: grpc.status.UNAVAILABLE });
    // A detector that demands client certificates refuses a caller without one.
    const anonymous = client('Detector', d.port, grpc.credentials.createSsl(ca), { 'grpc.ssl_target_name_override': 'localhost' });
    await expect(detect(anonymous, images, { deadline: Date.now() + 3000 })).rejects.toMatchObject({ code: grpc.status.UNAVAILABLE });
  });
});

/** A CA and certificates for localhost/127.0.0.1 signed by it: gateway and detector servers, gateway client. */
function makePki(dir: string): void {
  const run = (...args: string[]): void => void execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  execFileSync('mkdir', ['-p', dir]);
  run('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=edge-ssd test CA');
  for (const name of ['gateway', 'detector', 'client']) {
    run('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name === 'client' ? 'gateway-client' : 'localhost'}`);
    execFileSync('sh', ['-c', `printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\\n' > ${name}.ext`], { cwd: dir });
    run('x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${name}.crt`, '-days', '2', '-extfile', `${name}.ext`);
  }
}
