// The gateway's HTTP API with real clients against real processes: the DeepStack client Home
// Assistant uses (Python `requests`, Debian's python3-requests) and Node's fetch, on the built-in
// face model. SSD_SKIP_PYTHON_REQUESTS=1 skips the Python client's tests where python3-requests
// cannot be installed (reported as skipped); without it they fail naming the package.
import * as grpc from '@grpc/grpc-js';
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import * as https from 'node:https';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { builtinModel, healthOf, metricValue, REPO_ROOT, scrapeMetrics, startService, type RunningService } from '../src';

const ASTRONAUT = '/usr/lib/python3/dist-packages/skimage/data/astronaut.png';
const CLIENT = path.join(REPO_ROOT, 'e2e', 'python', 'deepstack_client.py');
const TOKEN = 'camera-token-1';
const MAX_MESSAGE_BYTES = 1024 * 1024;
const SKIP_PYTHON = process.env.SSD_SKIP_PYTHON_REQUESTS === '1';

function pythonRequestsPresent(): boolean {
  try {
    execFileSync('/usr/bin/python3', ['-c', 'import requests']);
    return true;
  } catch {
    return false;
  }
}

const running: RunningService[] = [];
let detector: RunningService;
let gateway: RunningService;
let base: string;
let dir: string;

beforeAll(async () => {
  if (!existsSync(ASTRONAUT)) throw new Error(`${ASTRONAUT} is missing: install Debian's python3-skimage (bash tools/test-deps.sh)`);
  if (!SKIP_PYTHON && !pythonRequestsPresent()) throw new Error("Python's requests is missing: install Debian's python3-requests (bash tools/test-deps.sh), or set SSD_SKIP_PYTHON_REQUESTS=1");
  dir = await mkdtemp(path.join(tmpdir(), 'edge-ssd-http-'));
  detector = await startService('detector', { MODEL_PATH: await builtinModel('faceapi-ssd-mobilenetv1'), DETECTOR_POOL_SIZE: '1' });
  running.push(detector);
  gateway = await startGateway({});
  base = `http://127.0.0.1:${gateway.ready['httpPort'] as number}`;
}, 300_000);

afterAll(async () => {
  await Promise.all(running.map((s) => s.stop()));
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function startGateway(env: Record<string, string>, credentials = grpc.credentials.createInsecure()): Promise<RunningService> {
  const service = await startService('gateway', {
    GATEWAY_HTTP_PORT: '0',
    GATEWAY_HEALTH_INTERVAL_MS: '100',
    GATEWAY_AUTH_TOKENS: TOKEN,
    GATEWAY_MAX_MESSAGE_BYTES: String(MAX_MESSAGE_BYTES),
    DETECTOR_TARGET: `127.0.0.1:${detector.port}`,
    ...env,
  });
  running.push(service);
  // Readiness follows the detector's health, checked every 100 ms.
  for (let i = 0; i < 100 && (await healthOf(service.port, 'ssd.v1.Gateway', credentials)) !== 'SERVING'; i++) await new Promise((r) => setTimeout(r, 50));
  return service;
}

interface DeepStackReply {
  status: number;
  body: { success: boolean; predictions?: Array<Record<string, unknown>>; error?: string; duration: number };
}

/** One request exactly as Home Assistant's DeepStack integration posts it. */
async function homeAssistant(route: string, image: string, key: string, minConfidence?: number): Promise<DeepStackReply> {
  const args = [CLIENT, `${base}${route}`, image, key, ...(minConfidence === undefined ? [] : [String(minConfidence)])];
  const { stdout } = await promisify(execFile)('/usr/bin/python3', args);
  return JSON.parse(stdout) as DeepStackReply;
}

const pythonIt = SKIP_PYTHON ? it.skip : it;

describe('DeepStack-compatible HTTP API, called as Home Assistant calls it (Python requests)', () => {
  pythonIt("finds the astronaut's face with an integer pixel box", async () => {
    const reply = await homeAssistant('/v1/vision/face', ASTRONAUT, TOKEN, 0.5);
    expect(reply.status).toBe(200);
    expect(reply.body.success).toBe(true);
    expect(reply.body.predictions).toHaveLength(1);
    const face = reply.body.predictions![0]!;
    // DeepStack's face answers carry no label; the box is whole pixels of the 512x512 portrait.
    expect(Object.keys(face).sort()).toEqual(['confidence', 'x_max', 'x_min', 'y_max', 'y_min']);
    for (const k of ['x_min', 'y_min', 'x_max', 'y_max']) expect(Number.isInteger(face[k])).toBe(true);
    // face-api itself finds her face at 0.965, (181, 73)-(264, 175) px (README).
    expect(face['confidence']).toBeGreaterThan(0.9);
    const near = (k: string, v: number) => expect(Math.abs((face[k] as number) - v)).toBeLessThanOrEqual(3);
    near('x_min', 181);
    near('y_min', 73);
    near('x_max', 264);
    near('y_max', 175);
    expect(Number.isInteger(reply.body.duration)).toBe(true);
  });

  pythonIt('labels object detections and honours min_confidence', async () => {
    const some = await homeAssistant('/v1/vision/detection', ASTRONAUT, TOKEN);
    expect(some.status).toBe(200);
    expect(some.body.predictions!.map((p) => p['label'])).toContain('face');
    const none = await homeAssistant('/v1/vision/detection', ASTRONAUT, TOKEN, 0.99);
    expect(none.body).toMatchObject({ success: true, predictions: [] });
  });

  pythonIt('answers a wrong key 401, a corrupt image 400 and an oversize upload 413, each with success false, and stays SERVING', async () => {
    const corrupt = path.join(dir, 'corrupt.jpg');
    await writeFile(corrupt, Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), Buffer.alloc(5000, 7)]));
    const oversize = path.join(dir, 'oversize.jpg');
    await writeFile(oversize, Buffer.alloc(MAX_MESSAGE_BYTES + 100_000, 1));
    const wrongKey = await homeAssistant('/v1/vision/detection', ASTRONAUT, 'not-the-token');
    expect([wrongKey.status, wrongKey.body.success]).toEqual([401, false]);
    expect(wrongKey.body.error).toBe('invalid token');
    const bad = await homeAssistant('/v1/vision/detection', corrupt, TOKEN);
    expect([bad.status, bad.body.success]).toEqual([400, false]);
    expect(bad.body.error).toMatch(/corrupt|unsupported/);
    const big = await homeAssistant('/v1/vision/face', oversize, TOKEN);
    expect([big.status, big.body.success]).toEqual([413, false]);
    for (const reply of [wrongKey, bad, big]) expect(JSON.stringify(reply.body)).not.toMatch(/at .*\.js:\d+|127\.0\.0\.1/);
    expect(await healthOf(gateway.port, 'ssd.v1.Gateway')).toBe('SERVING');
    const after = await homeAssistant('/v1/vision/face', ASTRONAUT, TOKEN);
    expect(after.body.predictions).toHaveLength(1);
  });
});

describe('the HTTP API with fetch', () => {
  const auth = { authorization: `Bearer ${TOKEN}` };

  it('POST /v1/detect takes the image as the body and options in the query, answering normalised and pixel boxes', async () => {
    const image = await readFile(ASTRONAUT);
    const response = await fetch(`${base}/v1/detect?score_threshold=0.5`, { method: 'POST', headers: { ...auth, 'content-type': 'image/png' }, body: image });
    expect(response.status).toBe(200);
    expect(response.headers.get('server-timing')).toMatch(/^total;dur=\d/);
    const body = (await response.json()) as { model: string; width: number; height: number; detections: Array<{ label: string; box: Record<string, number>; pixelBox: Record<string, number> }> };
    expect(body).toMatchObject({ model: 'faceapi-ssd-mobilenetv1-512', width: 512, height: 512 });
    expect(body.detections).toHaveLength(1);
    const [face] = body.detections;
    expect(face!.label).toBe('face');
    expect(face!.box.xmin * 512).toBeCloseTo(face!.pixelBox.xmin, 2);
    // The same request as a multipart form, the key in the body as a DeepStack client sends it.
    const form = new FormData();
    form.append('api_key', TOKEN);
    form.append('score_threshold', '0.5');
    form.append('image', new Blob([image]), 'astronaut.png');
    const viaForm = (await (await fetch(`${base}/v1/detect`, { method: 'POST', body: form })).json()) as typeof body;
    expect(viaForm.detections).toEqual(body.detections);
  });

  it('serves the same API over HTTPS with the gateway\'s TLS certificate (GATEWAY_TLS_CERT), and nothing in clear', async () => {
    // One self-signed certificate for 127.0.0.1, trusted by this client only.
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', 'tls.key', '-out', 'tls.crt'], { cwd: dir, stdio: 'pipe' });
    const tls = await startGateway({ GATEWAY_TLS_CERT: path.join(dir, 'tls.crt'), GATEWAY_TLS_KEY: path.join(dir, 'tls.key') }, grpc.credentials.createSsl(readFileSync(path.join(dir, 'tls.crt'))));
    const port = tls.ready['httpPort'] as number;
    const image = await readFile(ASTRONAUT);
    const answer = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const request = https.request(
        { host: '127.0.0.1', port, path: '/v1/detect?score_threshold=0.5', method: 'POST', ca: readFileSync(path.join(dir, 'tls.crt')), headers: { ...auth, 'content-type': 'image/png' } },
        (response) => {
          const chunks: Buffer[] = [];
          response.on('data', (c: Buffer) => chunks.push(c));
          response.on('end', () => resolve({ status: response.statusCode!, body: Buffer.concat(chunks).toString() }));
        },
      );
      request.on('error', reject);
      request.end(image);
    });
    expect(answer.status).toBe(200);
    expect((JSON.parse(answer.body) as { detections: Array<{ label: string }> }).detections.map((d) => d.label)).toEqual(['face']);
    // Plain HTTP to the TLS port gets no API answer.
    await expect(fetch(`http://127.0.0.1:${port}/openapi.json`).then((r) => r.status)).rejects.toThrow();
  });

  it('refuses without a key (401) and a misspelt option (400), as JSON, before any detector is asked', async () => {
    const noKey = await fetch(`${base}/v1/detect`, { method: 'POST', headers: { 'content-type': 'image/png' }, body: Buffer.from('x') });
    expect(noKey.status).toBe(401);
    expect(await noKey.json()).toEqual({ error: { status: 401, message: 'missing bearer token' } });
    const typo = await fetch(`${base}/v1/detect?score=0.5`, { method: 'POST', headers: { ...auth, 'content-type': 'image/png' }, body: Buffer.from('x') });
    expect(typo.status).toBe(400);
    expect(((await typo.json()) as { error: { message: string } }).error.message).toMatch(/unknown option "score"/);
  });

  it('serves its OpenAPI description, the model card and the demo page, and the page loads nothing from elsewhere', async () => {
    const doc = (await (await fetch(`${base}/openapi.json`)).json()) as { openapi: string; paths: Record<string, unknown> };
    expect(doc.openapi).toMatch(/^3\./);
    expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(['/v1/detect', '/v1/vision/detection', '/v1/vision/face']));
    const model = (await (await fetch(`${base}/v1/model`, { headers: auth })).json()) as { labels: string[] };
    expect(model.labels).toEqual(['background', 'face']);
    const page = await fetch(`${base}/`);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    expect(page.headers.get('content-security-policy')).toMatch(/default-src 'none'/);
    const html = await page.text();
    expect(html).not.toMatch(/(src|href)="(https?:)?\/\//);
  });

  it('answers 429 with Retry-After beyond the concurrency limit it shares with gRPC, and serves the rest', async () => {
    const small = await startGateway({ GATEWAY_MAX_CONCURRENCY: '1' });
    const url = `http://127.0.0.1:${small.ready['httpPort'] as number}/v1/vision/face`;
    const image = new Blob([await readFile(ASTRONAUT)]);
    const post = async () => {
      const form = new FormData();
      form.append('api_key', TOKEN);
      form.append('image', image, 'a.png');
      const r = await fetch(url, { method: 'POST', body: form });
      return { status: r.status, retryAfter: r.headers.get('retry-after'), body: (await r.json()) as { success: boolean } };
    };
    const replies = await Promise.all(Array.from({ length: 6 }, post));
    const statuses = replies.map((r) => r.status);
    expect(statuses).toContain(200);
    expect(statuses).toContain(429);
    expect(statuses.every((s) => s === 200 || s === 429)).toBe(true);
    for (const r of replies.filter((x) => x.status === 429)) expect([r.retryAfter, r.body.success]).toEqual(['1', false]);
    const metrics = await scrapeMetrics(small.ready['metricsPort'] as number);
    expect(metricValue(metrics, 'gateway_http_requests_total', { route: '/v1/vision/face', status: '429' })).toBe(statuses.filter((s) => s === 429).length);
    expect(metricValue(metrics, 'gateway_http_requests_total', { route: '/v1/vision/face', status: '200' })).toBe(statuses.filter((s) => s === 200).length);
    expect(metricValue(metrics, 'gateway_images_total', { code: 'OK' })).toBe(statuses.filter((s) => s === 200).length);
  });
});

describe('DeepStack face detection next to a VOC model', () => {
  async function face(url: string): Promise<{ status: number; body: DeepStackReply['body'] }> {
    const form = new FormData();
    form.append('api_key', TOKEN);
    form.append('image', new Blob([await readFile(ASTRONAUT)]), 'astronaut.png');
    const r = await fetch(`${url}/v1/vision/face`, { method: 'POST', body: form });
    return { status: r.status, body: (await r.json()) as DeepStackReply['body'] };
  }

  it('answers 404 where the detectors have no face model, and finds the face through GATEWAY_FACE_DETECTOR_TARGET', async () => {
    const voc = await startService('detector', { MODEL_PATH: await builtinModel('mobilenet-ssd-voc-300'), DETECTOR_POOL_SIZE: '1' });
    running.push(voc);
    const vocOnly = await startGateway({ DETECTOR_TARGET: `127.0.0.1:${voc.port}` });
    const refused = await face(`http://127.0.0.1:${vocOnly.ready['httpPort'] as number}`);
    expect(refused.status).toBe(404);
    expect(refused.body).toMatchObject({ success: false, error: expect.stringMatching(/no "face" label/) });

    const both = await startGateway({ DETECTOR_TARGET: `127.0.0.1:${voc.port}`, GATEWAY_FACE_DETECTOR_TARGET: `127.0.0.1:${detector.port}` });
    const url = `http://127.0.0.1:${both.ready['httpPort'] as number}`;
    const found = await face(url);
    expect(found.status).toBe(200);
    expect(found.body.predictions).toHaveLength(1);
    expect(found.body.predictions![0]!['x_min']).toBeGreaterThanOrEqual(178);
    // Objects still come from the VOC detectors.
    const model = (await (await fetch(`${url}/v1/model`, { headers: { authorization: `Bearer ${TOKEN}` } })).json()) as { labels: string[] };
    expect(model.labels).toHaveLength(21);
    expect(model.labels).toContain('person');
  });
});
