// Video streams through the gateway: frames/s and per-frame latency of 1 and 4 DetectStream
// streams of 640x480 JPEGs, against the same frames sent as one-image unary Detect calls. Both
// keep the same number of frames outstanding per client (the gateway's default stream window),
// closed loop, so the figures compare the two ways of carrying a frame, not two loads.
//
// Run alone (services started here): node bench/dist/stream.js [--quick]
import * as grpc from '@grpc/grpc-js';
import type { DetectStreamResponse, GatewayClient } from '@edge-ssd/protos';
import { detectCall, type SsdClient } from '@edge-ssd/e2e';
import { benchImages } from './images';
import { f1, spread, table } from './markdown';
import { makeClient, startServices } from './service';
import { elapsedMs, summarize, type Summary } from './stats';

/** Frames outstanding per client: the gateway's default GATEWAY_STREAM_MAX_IN_FLIGHT. */
const OUTSTANDING = 4;

export interface StreamCase {
  mode: 'stream' | 'unary';
  clients: number;
  frames: number;
  framesPerSecond: Summary;
  latencyMs: Summary;
  errors: number;
}

interface Round {
  seconds: number;
  latencies: number[];
  errors: number;
}

/** One stream: `count` frames, OUTSTANDING at a time, the next sent as each answer arrives. */
function oneStream(client: GatewayClient, jpegs: Buffer[], count: number, offset: number): Promise<Round> {
  return new Promise((resolve) => {
    const call = client.DetectStream(new grpc.Metadata(), { deadline: Date.now() + 300_000 });
    const sentAt = new Map<string, bigint>();
    const latencies: number[] = [];
    let errors = 0;
    let next = 1;
    const started = process.hrtime.bigint();
    const send = (): void => {
      if (next > count) {
        if (next === count + 1) call.end();
        next++;
        return;
      }
      const k = next++;
      sentAt.set(String(k), process.hrtime.bigint());
      call.write({ ...(k === 1 ? { policy: 'OVERLOAD_POLICY_QUEUE' as const, maxInFlight: OUTSTANDING } : {}), frame: { sequence: k, image: { id: String(k), encoded: jpegs[(offset + k) % jpegs.length]! } } });
    };
    call.on('data', (answer: DetectStreamResponse) => {
      latencies.push(elapsedMs(sentAt.get(answer.sequence)!));
      if (answer.result?.status?.code !== 0) errors++;
      send();
    });
    call.on('error', () => undefined);
    call.on('status', (status: grpc.StatusObject) => {
      if (status.code !== grpc.status.OK) errors += count - latencies.length;
      resolve({ seconds: elapsedMs(started) / 1000, latencies, errors });
    });
    for (let i = 0; i < OUTSTANDING; i++) send();
  });
}

/** The same frames as unary calls: OUTSTANDING callers per client, one frame per call. */
async function oneUnaryClient(client: SsdClient, jpegs: Buffer[], count: number, offset: number): Promise<Round> {
  const latencies: number[] = [];
  let errors = 0;
  let next = 1;
  const started = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: OUTSTANDING }, async () => {
      while (next <= count) {
        const k = next++;
        const t0 = process.hrtime.bigint();
        try {
          const response = await detectCall(client, { images: [{ id: String(k), encoded: jpegs[(offset + k) % jpegs.length]! }] }, { deadline: Date.now() + 120_000 });
          if (response.results[0]?.status?.code !== 0) errors++;
        } catch {
          errors++;
        }
        latencies.push(elapsedMs(t0));
      }
    }),
  );
  return { seconds: elapsedMs(started) / 1000, latencies, errors };
}

async function measure(mode: StreamCase['mode'], client: SsdClient, jpegs: Buffer[], clients: number, perClient: number): Promise<Round> {
  const started = process.hrtime.bigint();
  const rounds = await Promise.all(
    Array.from({ length: clients }, (_, c) =>
      mode === 'stream' ? oneStream(client as unknown as GatewayClient, jpegs, perClient, c * 7) : oneUnaryClient(client, jpegs, perClient, c * 7),
    ),
  );
  return { seconds: elapsedMs(started) / 1000, latencies: rounds.flatMap((r) => r.latencies), errors: rounds.reduce((sum, r) => sum + r.errors, 0) };
}

/**
 * Streams and unary calls through `gateway`, alternated round by round so both see the same
 * machine; `rounds` rounds of `perClient` frames per client for each of 1 and 4 clients.
 */
export async function benchStreams(gateway: SsdClient, jpegs: Buffer[], rounds: number, perClient: number): Promise<StreamCase[]> {
  // Warm-up: connections, the detector's sessions at every batch size the streams will make.
  await measure('stream', gateway, jpegs, 4, OUTSTANDING * 2);
  await measure('unary', gateway, jpegs, 4, OUTSTANDING * 2);
  const cases: StreamCase[] = [];
  for (const clients of [1, 4]) {
    const samples = { stream: { rates: [] as number[], latencies: [] as number[], errors: 0 }, unary: { rates: [] as number[], latencies: [] as number[], errors: 0 } };
    for (let round = 0; round < rounds; round++) {
      for (const mode of ['stream', 'unary'] as const) {
        const r = await measure(mode, gateway, jpegs, clients, perClient);
        samples[mode].rates.push((clients * perClient) / r.seconds);
        samples[mode].latencies.push(...r.latencies);
        samples[mode].errors += r.errors;
      }
    }
    for (const mode of ['stream', 'unary'] as const) {
      const s = samples[mode];
      cases.push({ mode, clients, frames: clients * perClient * rounds, framesPerSecond: summarize(s.rates), latencyMs: summarize(s.latencies), errors: s.errors });
    }
  }
  return cases;
}

/** The report's section (report.ts). */
export function renderStreams(cases: StreamCase[]): string {
  const rows = cases.map((c) => [c.mode === 'stream' ? 'DetectStream' : 'unary Detect, 1 frame per call', String(c.clients), spread(c.framesPerSecond), f1(c.latencyMs.median), f1(c.latencyMs.p99), String(c.errors)]);
  return [
    '## Video streams vs unary frames (through the gateway)',
    '',
    `640x480 JPEGs, ${OUTSTANDING} frames outstanding per stream or client, closed loop; one round = every client sends its frames.`,
    '',
    table(['carried as', 'streams / clients', 'frames/s', 'latency p50 ms', 'latency p99 ms', 'errors'], rows),
    '',
  ].join('\n');
}

async function main(): Promise<void> {
  const quick = process.argv.includes('--quick');
  const images = await benchImages(32);
  // As run.ts starts them for its gateway section.
  const services = await startServices({ DETECTOR_MAX_BATCH: '8' }, true);
  const gateway = makeClient('Gateway', services.gateway!.port);
  try {
    const cases = await benchStreams(gateway, images.jpegs, quick ? 1 : 3, quick ? 24 : 60);
    process.stdout.write(JSON.stringify(cases, null, 2) + '\n');
  } finally {
    gateway.close();
    await services.stop();
  }
}

if (require.main === module) {
  main().then(
    () => process.exit(0),
    (error: unknown) => {
      console.error(error);
      process.exit(1);
    },
  );
}
