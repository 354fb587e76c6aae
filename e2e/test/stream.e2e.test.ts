// Gateway.DetectStream end to end: real detectors and a gateway on loopback, camera-like clients
// sending frames at a fixed rate. Ordering and no loss under QUEUE while a detector dies, bounded
// latency with reported drops under LATEST when overloaded, the end of queued work on a deadline
// or a cancel, the drain on SIGTERM, admission (tokens, the concurrency limit), and the CLI.
import { execFile, spawnSync } from 'node:child_process';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import { loadSsdPackage, type DetectStreamRequestInit, type DetectStreamResponse, type GatewayClient, type ImageResult } from '@edge-ssd/protos';
import { builtinModel, detectCall, jpegs, metricValue, REPO_ROOT, scrapeMetrics, startService, until, type RunningService, type SsdClient } from '../src';

const running: RunningService[] = [];
const clients: grpc.Client[] = [];
let scratch: string;

beforeAll(async () => {
  scratch = await mkdtemp(path.join(tmpdir(), 'edge-ssd-stream-'));
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
    DETECTOR_MAX_BATCH: '4',
    ...env,
  });
  running.push(service);
  return service;
}

async function gateway(detectors: RunningService[], env: Record<string, string> = {}): Promise<RunningService> {
  const service = await startService('gateway', {
    GATEWAY_HEALTH_INTERVAL_MS: '100',
    GATEWAY_RETRY_INITIAL_BACKOFF_MS: '20',
    DETECTOR_TARGET: detectors.map((d) => `127.0.0.1:${d.port}`).join(','),
    ...env,
  });
  running.push(service);
  await until(async () => metricValue(await metricsOf(service), 'gateway_healthy_detectors') === detectors.length, 'healthy detectors');
  return service;
}

function client<K extends 'Gateway' | 'Detector'>(kind: K, port: number): K extends 'Gateway' ? GatewayClient : SsdClient {
  const c = new (loadSsdPackage()[kind])(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  clients.push(c);
  return c as K extends 'Gateway' ? GatewayClient : SsdClient;
}

const metricsOf = (s: RunningService): Promise<string> => scrapeMetrics(s.ready['metricsPort'] as number);

interface Answer {
  response: DetectStreamResponse;
  /** ms from the frame's write to its answer, on this client. */
  latencyMs: number;
}

interface StreamRun {
  answers: Answer[];
  status: grpc.StatusObject;
}

interface StreamPlan {
  frames: Buffer[];
  fps: number;
  first?: DetectStreamRequestInit;
  maxLatencyMs?: number;
  metadata?: grpc.Metadata;
  options?: grpc.CallOptions;
  /** Called after frame k (1-based) is written. */
  afterFrame?(k: number): void;
}

/** Sends frames 1..n on one stream at `fps`, waiting when flow control pushes back, and collects the answers. */
async function runStream(gw: GatewayClient, plan: StreamPlan): Promise<StreamRun> {
  const call = gw.DetectStream(plan.metadata ?? new grpc.Metadata(), plan.options ?? {});
  const sentAt = new Map<string, number>();
  const answers: Answer[] = [];
  call.on('data', (response: DetectStreamResponse) => answers.push({ response, latencyMs: performance.now() - sentAt.get(response.sequence)! }));
  call.on('error', () => undefined);
  const status = new Promise<grpc.StatusObject>((resolve) => call.on('status', resolve));
  let ended = false;
  void status.then(() => (ended = true));
  const start = performance.now();
  for (let k = 1; k <= plan.frames.length && !ended; k++) {
    const wait = start + ((k - 1) * 1000) / plan.fps - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    sentAt.set(String(k), performance.now());
    const message: DetectStreamRequestInit = { ...(k === 1 ? plan.first : {}), frame: { sequence: k, image: { id: `f${k}`, encoded: plan.frames[k - 1]! }, maxLatencyMs: plan.maxLatencyMs ?? 0 } };
    if (!call.write(message)) await Promise.race([new Promise((r) => call.once('drain', r)), status]);
    plan.afterFrame?.(k);
  }
  call.end();
  return { answers, status: await status };
}

const withoutId = (r: ImageResult | null): ImageResult => ({ ...r!, id: '' });

describe('DetectStream', () => {
  it('QUEUE: 300 frames at 30 fps over three detectors, one killed midway: every frame answered once, in order, as a detector answers it', async () => {
    const detectors = await Promise.all([detector(), detector(), detector()]);
    const gw = await gateway(detectors, { GATEWAY_CHUNK_SIZE: '1' });
    const distinct = await jpegs(6, 320, 240);
    const expected = (await detectCall(client('Detector', detectors[0]!.port), { images: distinct.map((encoded, i) => ({ id: `ref-${i}`, encoded })) })).results;
    const frames = Array.from({ length: 300 }, (_, k) => distinct[k % distinct.length]!);
    const run = await runStream(client('Gateway', gw.port), {
      frames,
      fps: 30,
      first: { policy: 'OVERLOAD_POLICY_QUEUE' },
      afterFrame: (k) => {
        if (k === 150) detectors[1]!.process.kill('SIGKILL');
      },
    });
    expect(run.status.code).toBe(grpc.status.OK);
    expect(run.answers.map((a) => a.response.sequence)).toEqual(frames.map((_, k) => String(k + 1)));
    run.answers.forEach(({ response }, k) => {
      expect(response.dropReason).toBe('DROP_REASON_UNSPECIFIED');
      expect(response.result!.id).toBe(`f${k + 1}`);
      expect(response.result!.status).toEqual({ code: grpc.status.OK, message: '' });
      expect(withoutId(response.result)).toEqual(withoutId(expected[k % distinct.length]!));
    });
    const metrics = await metricsOf(gw);
    const latencies = run.answers.map((a) => a.latencyMs).sort((a, b) => a - b);
    console.log(
      `QUEUE, detector killed at frame 150: 300/300 answered in order; retries ${metricValue(metrics, 'gateway_retries_total', { code: 'UNAVAILABLE' }) + metricValue(metrics, 'gateway_retries_total', { code: 'INTERNAL' })}; ` +
        `client latency p50 ${latencies[149]!.toFixed(0)} ms, p99 ${latencies[296]!.toFixed(0)} ms`,
    );
    expect(metricValue(metrics, 'gateway_stream_frames_total', { outcome: 'served' })).toBe(300);
    expect(metricValue(metrics, 'gateway_stream_frame_seconds_count', { outcome: 'served' })).toBe(300);
    expect(metricValue(metrics, 'gateway_streams_active')).toBe(0);
  }, 180_000);

  it('LATEST: 4 streams faster than capacity keep p99 latency within max_latency_ms plus one batch, and report every dropped frame', async () => {
    const d = await detector({ DETECTOR_POOL_SIZE: '2' });
    const gw = await gateway([d]);
    const frames = await jpegs(90, 640, 480);
    // One batch: DETECTOR_MAX_BATCH (4) of these frames in one call, straight to the detector, warm.
    const direct = client('Detector', d.port);
    const batch = { images: frames.slice(0, 4).map((encoded, i) => ({ id: `${i}`, encoded })) };
    await detectCall(direct, batch);
    const times: number[] = [];
    for (let i = 0; i < 3; i++) {
      const t0 = performance.now();
      await detectCall(direct, batch);
      times.push(performance.now() - t0);
    }
    const batchMs = Math.max(...times);
    const maxLatencyMs = 250;
    const gwClient = client('Gateway', gw.port);
    const runs = await Promise.all(
      [0, 1, 2, 3].map(() => runStream(gwClient, { frames, fps: 30, maxLatencyMs, first: { policy: 'OVERLOAD_POLICY_LATEST', maxInFlight: 1 } })),
    );
    const served: number[] = [];
    const dropped = { superseded: 0, stale: 0 };
    for (const run of runs) {
      expect(run.status.code).toBe(grpc.status.OK);
      expect(run.answers.map((a) => a.response.sequence)).toEqual(frames.map((_, k) => String(k + 1)));
      for (const { response, latencyMs } of run.answers) {
        if (response.dropReason === 'DROP_REASON_UNSPECIFIED') {
          expect(response.result!.status!.code).toBe(grpc.status.OK);
          served.push(latencyMs);
        } else if (response.dropReason === 'DROP_REASON_SUPERSEDED') {
          expect(response.result!.status!.code).toBe(grpc.status.ABORTED);
          dropped.superseded++;
        } else {
          expect([response.dropReason, response.result!.status!.code]).toEqual(['DROP_REASON_STALE', grpc.status.DEADLINE_EXCEEDED]);
          dropped.stale++;
        }
      }
    }
    served.sort((a, b) => a - b);
    const p99 = served[Math.ceil(0.99 * served.length) - 1]!;
    const metrics = await metricsOf(gw);
    console.log(
      `LATEST, 4 streams x 90 frames at 30 fps: ${served.length} served, ${dropped.superseded} superseded, ${dropped.stale} stale; ` +
        `served latency p50 ${served[Math.floor(served.length / 2)]!.toFixed(0)} ms, p99 ${p99.toFixed(0)} ms; bound ${maxLatencyMs} + one batch ${batchMs.toFixed(0)} ms`,
    );
    // Overloaded: frames were dropped, and the service still served some of every stream.
    expect(dropped.superseded + dropped.stale).toBeGreaterThan(0);
    for (const run of runs) expect(run.answers.some((a) => a.response.dropReason === 'DROP_REASON_UNSPECIFIED')).toBe(true);
    expect(p99).toBeLessThanOrEqual(maxLatencyMs + batchMs);
    expect(metricValue(metrics, 'gateway_stream_frames_total', { outcome: 'served' })).toBe(served.length);
    expect(metricValue(metrics, 'gateway_stream_frames_total', { outcome: 'dropped', reason: 'superseded' })).toBe(dropped.superseded);
    expect(metricValue(metrics, 'gateway_stream_frames_total', { outcome: 'dropped', reason: 'stale' })).toBe(dropped.stale);
  }, 180_000);

  it('QUEUE pushes back: with the detectors stalled, the gateway reads a bounded number of frames and flow control holds the rest at the client', async () => {
    const d = await detector({ DETECTOR_MAX_BATCH: '1' });
    const gw = await gateway([d]);
    const blocker = detectCall(client('Detector', d.port), { images: (await jpegs(40)).map((encoded, i) => ({ id: `${i}`, encoded })) });
    await until(async () => metricValue(await metricsOf(d), 'detector_queued_images') >= 30, 'a queue');
    const call = client('Gateway', gw.port).DetectStream();
    call.on('error', () => undefined);
    const frame = (await jpegs(1, 640, 480, 7))[0]!;
    let pushedBackAt = 0;
    for (let k = 1; k <= 300; k++) {
      // Written regardless, so every frame the gateway does not read stays queued in this client.
      if (!call.write({ ...(k === 1 ? { policy: 'OVERLOAD_POLICY_QUEUE' as const, maxInFlight: 4 } : {}), frame: { sequence: k, image: { id: `${k}`, encoded: frame } } }) && pushedBackAt === 0) pushedBackAt = k;
    }
    await until(async () => metricValue(await metricsOf(d), 'detector_enqueued_images_total') === 44, 'a window of frames at the detector');
    await new Promise((r) => setTimeout(r, 500));
    // The gateway holds a request-budget share per frame it has read (4x its bytes), beside one
    // largest message for the one being read.
    const slot = gw.ready['maxMessageBytes'] as number;
    const heldFrames = (metricValue(await metricsOf(gw), 'gateway_memory_budget_in_use_bytes', { budget: 'requests' }) - slot) / (4 * frame.length);
    console.log(`flow control: client pushed back at frame ${pushedBackAt}; the gateway holds about ${heldFrames.toFixed(1)} frames of 300 sent`);
    expect(pushedBackAt).toBeGreaterThan(0);
    expect(pushedBackAt).toBeLessThan(300);
    // 4 in flight, 4 waiting, what grpc-js buffers ahead of the reader (16) and the one being read.
    expect(heldFrames).toBeGreaterThanOrEqual(8);
    expect(heldFrames).toBeLessThanOrEqual(4 + 4 + 16 + 1);
    call.cancel();
    await blocker;
  }, 120_000);

  it.each([
    ['its deadline passes', grpc.status.DEADLINE_EXCEEDED, 'deadline'],
    ['the client cancels it', grpc.status.CANCELLED, 'cancelled'],
  ] as const)('ends the queued work of a stream at once when %s', async (_when, code, reason) => {
    // One single-threaded run at a time: the queue outlasts the deadline on any machine load.
    const d = await detector({ DETECTOR_MAX_BATCH: '1', DETECTOR_INTRA_OP_THREADS: '1' });
    const gw = await gateway([d]);
    // Keep the detector busy, so the stream's frames sit in its queue.
    let blockerDone = false;
    const blocker = detectCall(client('Detector', d.port), { images: (await jpegs(40)).map((encoded, i) => ({ id: `${i}`, encoded })) }).then(() => (blockerDone = true));
    await until(async () => metricValue(await metricsOf(d), 'detector_queued_images') >= 30, 'a queue');
    const gwClient = client('Gateway', gw.port);
    const call = gwClient.DetectStream(new grpc.Metadata(), code === grpc.status.DEADLINE_EXCEEDED ? { deadline: Date.now() + 700 } : {});
    call.on('error', () => undefined);
    const status = new Promise<grpc.StatusObject>((resolve) => call.on('status', resolve));
    const small = await jpegs(4, 64, 48, 40);
    small.forEach((encoded, k) => call.write({ ...(k === 0 ? { policy: 'OVERLOAD_POLICY_QUEUE' as const, maxInFlight: 4 } : {}), frame: { sequence: k + 1, image: { id: `s${k}`, encoded } } }));
    await until(async () => metricValue(await metricsOf(d), 'detector_enqueued_images_total') === 44, 'the four frames to reach the detector queue');
    if (code === grpc.status.CANCELLED) call.cancel();
    // The stream ends at once, while the images queued ahead of its frames are still being done.
    expect((await status).code).toBe(code);
    expect(blockerDone).toBe(false);
    await blocker;
    // Its frames' detector calls were ended too: the detector dropped them from its queue, unrun.
    await until(async () => metricValue(await metricsOf(d), 'detector_dropped_images_total', { reason }) === 4, `the frames dropped (${reason})`);
    expect(metricValue(await metricsOf(d), 'detector_batch_size_sum')).toBe(40);
    await until(async () => metricValue(await metricsOf(gw), 'gateway_streams_active') === 0, 'the stream closed');
  }, 120_000);

  it('drains on SIGTERM: answers the frames it took, then ends the stream UNAVAILABLE saying where it stopped, and exits 0', async () => {
    const d = await detector();
    const gw = await gateway([d], { GATEWAY_SHUTDOWN_GRACE_MS: '30000' });
    const frames = await jpegs(60, 320, 240);
    const started = performance.now();
    let stopped: Promise<number | null> | undefined;
    const run = await runStream(client('Gateway', gw.port), {
      frames,
      fps: 20,
      afterFrame: (k) => {
        if (k === 20) stopped = gw.stop('SIGTERM');
      },
    });
    expect(await stopped).toBe(0);
    // Long before the grace period: the stream did not hold the drain.
    expect(performance.now() - started).toBeLessThan(15_000);
    expect(run.status.code).toBe(grpc.status.UNAVAILABLE);
    const answered = run.answers.map((a) => Number(a.response.sequence));
    expect(answered.length).toBeGreaterThanOrEqual(19);
    expect(answered).toEqual(answered.map((_, k) => k + 1));
    expect(run.answers.every((a) => a.response.result!.status!.code === grpc.status.OK)).toBe(true);
    expect(run.status.details).toBe(`gateway is shutting down: frames up to sequence ${answered.length} were answered; send later frames on a new stream`);
  }, 120_000);

  it('is admitted like Detect: bearer tokens, the concurrency limit; a sequence that goes back ends it INVALID_ARGUMENT', async () => {
    const d = await detector();
    const gw = await gateway([d], { GATEWAY_AUTH_TOKENS: 'stream-secret', GATEWAY_MAX_CONCURRENCY: '1' });
    const gwClient = client('Gateway', gw.port);
    const frames = await jpegs(3, 64, 48);
    const bearer = new grpc.Metadata();
    bearer.set('authorization', 'Bearer stream-secret');
    expect((await runStream(gwClient, { frames, fps: 100 })).status.code).toBe(grpc.status.UNAUTHENTICATED);
    // A stream holds its slot while open: a second one is refused at once.
    const open = gwClient.DetectStream(bearer);
    open.on('error', () => undefined);
    const openStatus = new Promise<grpc.StatusObject>((resolve) => open.on('status', resolve));
    open.write({ frame: { sequence: 1, image: { id: 'a', encoded: frames[0]! } } });
    await new Promise<void>((resolve) => open.once('data', () => resolve()));
    const refused = await runStream(gwClient, { frames, fps: 100, metadata: bearer });
    expect([refused.status.code, refused.status.details]).toEqual([grpc.status.RESOURCE_EXHAUSTED, 'gateway is at its limit of 1 concurrent requests']);
    open.write({ frame: { sequence: 1, image: { id: 'b', encoded: frames[1]! } } });
    const backwards = await openStatus;
    expect([backwards.code, backwards.details]).toEqual([grpc.status.INVALID_ARGUMENT, 'frame sequence 1 does not follow 1: sequences must increase']);
    const served = await runStream(gwClient, { frames, fps: 100, metadata: bearer });
    expect([served.status.code, served.answers.length]).toEqual([grpc.status.OK, 3]);
    expect(gw.output.join('\n')).not.toContain('stream-secret');
  }, 120_000);

  it('a corrupt frame fails alone and the stream goes on; options the detectors refuse, or too many class ids, end it INVALID_ARGUMENT', async () => {
    const d = await detector();
    const gw = await gateway([d]);
    const gwClient = client('Gateway', gw.port);
    const [good] = await jpegs(1, 64, 48);
    const mixed = await runStream(gwClient, { frames: [good!, Buffer.from('not an image'), good!], fps: 100 });
    expect(mixed.status.code).toBe(grpc.status.OK);
    expect(mixed.answers.map((a) => [a.response.sequence, a.response.result!.status!.code])).toEqual([
      ['1', grpc.status.OK],
      ['2', grpc.status.INVALID_ARGUMENT],
      ['3', grpc.status.OK],
    ]);
    expect(metricValue(await metricsOf(gw), 'gateway_stream_frames_total', { outcome: 'failed', reason: 'INVALID_ARGUMENT' })).toBe(1);
    const badOptions = await runStream(gwClient, { frames: [good!, good!], fps: 100, first: { options: { topK: 100_000 } } });
    expect([badOptions.status.code, badOptions.status.details]).toEqual([grpc.status.INVALID_ARGUMENT, 'top_k must be at most 200, got 100000']);
    const flood = await runStream(gwClient, { frames: [good!], fps: 100, first: { options: { classIds: Array.from({ length: 2000 }, () => 1) } } });
    expect([flood.status.code, flood.status.details]).toEqual([grpc.status.INVALID_ARGUMENT, 'class_ids has 2000 entries; the limit is 1024']);
  }, 120_000);

  it('CLI: --stream sends a directory as frames, prints one JSON line per frame and a summary, and annotates them', async () => {
    const d = await detector();
    const gw = await gateway([d]);
    const dir = path.join(scratch, 'frames');
    const out = path.join(scratch, 'annotated');
    await promisify(execFile)('mkdir', ['-p', dir]);
    const frames = await jpegs(12, 320, 240);
    await Promise.all(frames.map((bytes, k) => writeFile(path.join(dir, `frame-${String(k).padStart(3, '0')}.jpg`), bytes)));
    const cli = path.join(REPO_ROOT, 'apps', 'client', 'dist', 'main.js');
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [cli, '--stream', '--fps', '24', '--score', '0.01', '--annotate', out, '--target', `127.0.0.1:${gw.port}`, dir]);
    const lines = stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines).toHaveLength(13);
    expect(lines.slice(0, 12).map((l) => [l['sequence'], path.basename(l['file'] as string), l['outcome']])).toEqual(frames.map((_, k) => [k + 1, `frame-${String(k).padStart(3, '0')}.jpg`, 'served']));
    expect((lines[0]!['detections'] as unknown[]).length).toBeGreaterThan(0);
    expect(lines[12]).toEqual({ summary: expect.objectContaining({ frames: 12, served: 12, failed: 0, dropped: { superseded: 0, stale: 0 } }) });
    expect(stderr).toContain('12 frames: 12 served, 0 dropped');
    expect((await readdir(out)).sort()).toEqual(frames.map((_, k) => `frame-${String(k).padStart(3, '0')}.jpg`));
  }, 120_000);

  it('CLI: --video decodes a video through ffmpeg where it is installed, and says how to do without it where not', async () => {
    const cli = path.join(REPO_ROOT, 'apps', 'client', 'dist', 'main.js');
    const hasFfmpeg = spawnSync('ffmpeg', ['-version'], { stdio: 'ignore' }).status === 0;
    if (!hasFfmpeg) {
      const run = spawnSync(process.execPath, [cli, '--stream', '--video', 'clip.mp4'], { encoding: 'utf8' });
      expect(run.status).toBe(2);
      expect(run.stderr).toContain('--video needs ffmpeg, which is not installed here');
      expect(run.stderr).toContain('apt-get install ffmpeg');
      expect(run.stderr).toContain('npm run detect -- --stream frames/');
      expect(run.stdout).toBe('');
      return;
    }
    const d = await detector();
    const gw = await gateway([d]);
    const video = path.join(scratch, 'clip.mp4');
    await promisify(execFile)('ffmpeg', ['-v', 'error', '-f', 'lavfi', '-i', 'testsrc=duration=1:size=320x240:rate=10', '-pix_fmt', 'yuv420p', video]);
    const { stdout } = await promisify(execFile)(process.execPath, [cli, '--stream', '--fps', '10', '--video', video, '--target', `127.0.0.1:${gw.port}`]);
    const lines = stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines[lines.length - 1]).toEqual({ summary: expect.objectContaining({ frames: 10, served: 10 }) });
  }, 120_000);
});
