// The services under load: a detector (and a gateway in front of it) started as real processes,
// clients sending 32-image requests over gRPC on loopback.
import { readFileSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import { loadSsdPackage, type DetectRequestInit, type DetectResponse } from '@edge-ssd/protos';
import { MiB } from '@edge-ssd/service-kit';
import { builtinModel, detectCall, startService, type RunningService, type SsdClient } from '@edge-ssd/e2e';
import { elapsedMs, summarize, type Summary } from './stats';

export interface Services {
  detector: RunningService;
  gateway?: RunningService;
  stop(): Promise<void>;
}

export async function startServices(detectorEnv: Record<string, string>, withGateway: boolean): Promise<Services> {
  const detector = await startService('detector', { MODEL_PATH: await builtinModel('mobilenet-ssd-voc-300'), ...detectorEnv });
  const gateway = withGateway
    ? await startService('gateway', {
        DETECTOR_TARGET: `127.0.0.1:${detector.port}`,
        // One chunk per request: the gateway adds routing, not extra parallelism, to what is compared.
        GATEWAY_CHUNK_SIZE: '64',
      }).catch(async (error: unknown) => {
        await detector.stop();
        throw error;
      })
    : undefined;
  return {
    detector,
    gateway,
    stop: async () => {
      await gateway?.stop();
      await detector.stop();
    },
  };
}

export function makeClient(kind: 'Gateway' | 'Detector', port: number): SsdClient {
  return new (loadSsdPackage()[kind])(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), {
    'grpc.max_receive_message_length': 64 * MiB,
    'grpc.max_send_message_length': 64 * MiB,
  });
}

export function detectJpegs(client: SsdClient, jpegs: Buffer[]): Promise<DetectResponse> {
  const request: DetectRequestInit = { images: jpegs.map((encoded, i) => ({ id: String(i), encoded })) };
  return detectCall(client, request, { deadline: Date.now() + 120_000 });
}

export interface ThroughputCase {
  target: 'detector' | 'gateway';
  clients: number;
  requests: number;
  imagesPerRequest: number;
  /** Images/s of each round (every client sending one request). */
  imagesPerSecond: Summary;
  /** Per-request latency, ms. */
  latencyMs: Summary;
  errors: number;
  rateSamples: number[];
  latencySamples: number[];
}

/** Rounds of the same case measured at different times, as one case. */
export function mergeThroughput(cases: ThroughputCase[]): ThroughputCase {
  const rateSamples = cases.flatMap((c) => c.rateSamples);
  const latencySamples = cases.flatMap((c) => c.latencySamples);
  return {
    ...cases[0]!,
    requests: cases.reduce((sum, c) => sum + c.requests, 0),
    errors: cases.reduce((sum, c) => sum + c.errors, 0),
    rateSamples,
    latencySamples,
    imagesPerSecond: summarize(rateSamples),
    latencyMs: summarize(latencySamples),
  };
}

/**
 * `clients` concurrent clients each send `rounds` requests back to back; throughput is taken
 * per round so its spread can be reported.
 */
export async function benchThroughput(client: SsdClient, target: 'detector' | 'gateway', jpegs: Buffer[], clients: number, rounds: number): Promise<ThroughputCase> {
  const latencies: number[] = [];
  const rates: number[] = [];
  let errors = 0;
  for (let round = 0; round < rounds; round++) {
    const started = process.hrtime.bigint();
    await Promise.all(
      Array.from({ length: clients }, async () => {
        const t0 = process.hrtime.bigint();
        try {
          const response = await detectJpegs(client, jpegs);
          errors += response.results.filter((r) => r.status?.code !== 0).length;
        } catch {
          errors += jpegs.length;
        }
        latencies.push(elapsedMs(t0));
      }),
    );
    rates.push((clients * jpegs.length * 1000) / elapsedMs(started));
  }
  return {
    target,
    clients,
    requests: clients * rounds,
    imagesPerRequest: jpegs.length,
    imagesPerSecond: summarize(rates),
    latencyMs: summarize(latencies),
    errors,
    rateSamples: rates,
    latencySamples: latencies,
  };
}

/** Resident set size of a process, bytes (Linux /proc). */
function rssOf(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = /VmRSS:\s+(\d+)\s+kB/.exec(status);
  return kb ? Number(kb[1]) * 1024 : NaN;
}

export interface LoadTestResult {
  clients: number;
  targetRatePerSecond: number;
  seconds: number;
  sent: number;
  ok: number;
  errors: number;
  latencyMs: Summary;
  /** [seconds since start, detector RSS bytes]. */
  rss: Array<[number, number]>;
  /** Last fifth's median RSS over the median of the fifth after warm-up, minus 1. */
  rssGrowth: number;
}

/**
 * Open-loop load: requests leave at a fixed rate from `clients` connections, whatever the
 * latency, for `seconds`; bounded in count and time, loopback only.
 */
export async function loadTest(clientsList: SsdClient[], jpegs: Buffer[], ratePerSecond: number, seconds: number, detectorPid: number): Promise<LoadTestResult> {
  const latencies: number[] = [];
  const rss: Array<[number, number]> = [];
  let sent = 0;
  let ok = 0;
  let errors = 0;
  const started = Date.now();
  const total = Math.floor(ratePerSecond * seconds);
  const inFlight: Promise<void>[] = [];
  const sampler = setInterval(() => rss.push([(Date.now() - started) / 1000, rssOf(detectorPid)]), 500);
  try {
    for (let i = 0; i < total; i++) {
      const due = started + (i * 1000) / ratePerSecond;
      const wait = due - Date.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      const client = clientsList[i % clientsList.length]!;
      const t0 = process.hrtime.bigint();
      sent++;
      inFlight.push(
        detectJpegs(client, jpegs).then(
          (response) => {
            latencies.push(elapsedMs(t0));
            if (response.results.every((r) => r.status?.code === 0)) ok++;
            else errors++;
          },
          () => {
            errors++;
          },
        ),
      );
    }
    await Promise.all(inFlight);
  } finally {
    clearInterval(sampler);
  }
  const samples = rss.map(([, bytes]) => bytes);
  const warm = samples.slice(Math.floor(samples.length * 0.2), Math.floor(samples.length * 0.4));
  const last = samples.slice(Math.floor(samples.length * 0.8));
  const growth = warm.length > 0 && last.length > 0 ? summarize(last).median / summarize(warm).median - 1 : NaN;
  return { clients: clientsList.length, targetRatePerSecond: ratePerSecond, seconds, sent, ok, errors, latencyMs: summarize(latencies), rss, rssGrowth: growth };
}
