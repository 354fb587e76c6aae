// HTTP vs gRPC through the same gateway, one 640x480 JPEG per call: gRPC unary Detect, our
// POST /v1/detect (the image as the body) and DeepStack's POST /v1/vision/detection (a multipart
// form, as Home Assistant posts it). Each client sends its calls one after another (closed loop,
// one outstanding), with 1 and 4 clients; the three ways are alternated round by round so they
// see the same machine. Figures: images/s per round and per-call latency.
//
// Run alone (services started here): node bench/dist/http.js [--quick]
import { detectCall, startService, type SsdClient } from '@edge-ssd/e2e';
import { benchImages } from './images';
import { f1, spread, table } from './markdown';
import { makeClient, startServices } from './service';
import { elapsedMs, summarize, type Summary } from './stats';

const WAYS = ['grpc', 'http', 'deepstack'] as const;
type Way = (typeof WAYS)[number];

export interface HttpCase {
  way: Way;
  clients: number;
  calls: number;
  imagesPerSecond: Summary;
  latencyMs: Summary;
  errors: number;
}

interface Target {
  grpc: SsdClient;
  httpBase: string;
}

/** One call the given way; true when the image was served. */
async function call(way: Way, target: Target, jpeg: Buffer): Promise<boolean> {
  if (way === 'grpc') {
    const response = await detectCall(target.grpc, { images: [{ id: '0', encoded: jpeg }] }, { deadline: Date.now() + 120_000 });
    return response.results[0]?.status?.code === 0;
  }
  if (way === 'http') {
    const response = await fetch(`${target.httpBase}/v1/detect`, { method: 'POST', headers: { 'content-type': 'image/jpeg' }, body: jpeg });
    await response.arrayBuffer();
    return response.ok;
  }
  const form = new FormData();
  form.append('min_confidence', '0.25');
  form.append('image', new Blob([jpeg]), 'frame.jpg');
  const response = await fetch(`${target.httpBase}/v1/vision/detection`, { method: 'POST', body: form });
  const body = (await response.json()) as { success?: boolean };
  return response.ok && body.success === true;
}

async function round(way: Way, targets: Target[], jpegs: Buffer[], perClient: number): Promise<{ seconds: number; latencies: number[]; errors: number }> {
  const latencies: number[] = [];
  let errors = 0;
  const started = process.hrtime.bigint();
  await Promise.all(
    targets.map(async (target, c) => {
      for (let k = 0; k < perClient; k++) {
        const t0 = process.hrtime.bigint();
        const ok = await call(way, target, jpegs[(c * 5 + k) % jpegs.length]!).catch(() => false);
        latencies.push(elapsedMs(t0));
        if (!ok) errors++;
      }
    }),
  );
  return { seconds: elapsedMs(started) / 1000, latencies, errors };
}

/** The three ways through one gateway (VOC 300 model), `rounds` rounds of `perClient` calls per client. */
export async function benchHttp(jpegs: Buffer[], rounds: number, perClient: number): Promise<HttpCase[]> {
  const services = await startServices({ DETECTOR_MAX_BATCH: '8' }, false);
  const gateway = await startService('gateway', {
    GATEWAY_HTTP_PORT: '0',
    DETECTOR_TARGET: `127.0.0.1:${services.detector.port}`,
  }).catch(async (error: unknown) => {
    await services.stop();
    throw error;
  });
  const httpBase = `http://127.0.0.1:${gateway.ready['httpPort'] as number}`;
  const targets: Target[] = Array.from({ length: 4 }, () => ({ grpc: makeClient('Gateway', gateway.port), httpBase }));
  const cases: HttpCase[] = [];
  try {
    // Warm-up: connections and the detector's sessions.
    for (const way of WAYS) await round(way, targets, jpegs, 2);
    for (const clients of [1, 4]) {
      const samples = new Map<Way, { rates: number[]; latencies: number[]; errors: number }>(WAYS.map((w) => [w, { rates: [], latencies: [], errors: 0 }]));
      for (let r = 0; r < rounds; r++) {
        for (const way of WAYS) {
          const measured = await round(way, targets.slice(0, clients), jpegs, perClient);
          const s = samples.get(way)!;
          s.rates.push((clients * perClient) / measured.seconds);
          s.latencies.push(...measured.latencies);
          s.errors += measured.errors;
        }
      }
      for (const [way, s] of samples) cases.push({ way, clients, calls: clients * perClient * rounds, imagesPerSecond: summarize(s.rates), latencyMs: summarize(s.latencies), errors: s.errors });
    }
  } finally {
    for (const t of targets) t.grpc.close();
    await gateway.stop();
    await services.stop();
  }
  return cases;
}

const WAY_NAMES: Record<Way, string> = {
  grpc: 'gRPC unary Detect',
  http: 'HTTP POST /v1/detect (image as the body)',
  deepstack: 'HTTP POST /v1/vision/detection (multipart, DeepStack)',
};

/** The report's section (report.ts). */
export function renderHttp(cases: HttpCase[]): string {
  const grpcOf = (clients: number) => cases.find((c) => c.way === 'grpc' && c.clients === clients);
  const rows = cases.map((c) => {
    const base = grpcOf(c.clients);
    const vs = base && c.way !== 'grpc' ? ` (${f1(c.latencyMs.median - base.latencyMs.median)} vs gRPC)` : '';
    return [WAY_NAMES[c.way], String(c.clients), spread(c.imagesPerSecond), `${f1(c.latencyMs.median)}${vs}`, f1(c.latencyMs.p99), String(c.errors)];
  });
  return [
    '## HTTP vs gRPC, one image per call (through the gateway)',
    '',
    '640x480 JPEGs, MobileNet-SSD VOC 300; each client sends one call at a time; the three ways alternate round by round.',
    '',
    table(['way', 'clients', 'images/s', 'latency p50 ms', 'latency p99 ms', 'errors'], rows),
    '',
  ].join('\n');
}

if (require.main === module) {
  const quick = process.argv.includes('--quick');
  benchImages(8)
    .then((images) => benchHttp(images.jpegs, quick ? 2 : 3, quick ? 15 : 30))
    .then(
      (cases) => {
        process.stdout.write(renderHttp(cases));
        process.exit(0);
      },
      (error: unknown) => {
        console.error(error);
        process.exit(1);
      },
    );
}
