// Starting the real services as child processes for end-to-end tests and benchmarks.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import * as readline from 'node:readline';
import { promisify } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import sharp from 'sharp';
import type { DetectRequestInit, DetectResponse, GatewayClient, ModelInfo } from '@edge-ssd/protos';
import { checkHealth, healthClient, unary } from '@edge-ssd/service-kit';

export const REPO_ROOT = path.resolve(__dirname, '..', '..');

/**
 * Path of a built-in model in the repository's models/ folder, made there first (as `npm start`
 * does) by the model command line if it is missing or stale.
 */
export async function builtinModel(name: 'faceapi-ssd-mobilenetv1' | 'mobilenet-ssd-voc-300', dir = path.join(REPO_ROOT, 'models')): Promise<string> {
  await promisify(execFile)(process.execPath, [path.join(REPO_ROOT, 'apps/model-cli/dist/main.js'), 'prepare', name, '--dir', dir]);
  return path.join(dir, `${name}.onnx`);
}

export interface RunningService {
  name: string;
  port: number;
  /** The fields of its "ready" log line (metricsPort, model, ...). */
  ready: Record<string, unknown>;
  process: ChildProcess;
  /** Every line the service printed on stdout and stderr so far. */
  output: string[];
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export interface StartOptions {
  /** Working directory. */
  cwd?: string;
  /** Start the service inside this argv wrapper (e.g. a memory cgroup's). */
  wrap?(argv: string[]): string[];
  /** Resolve on the "listening" line (ports bound, maybe still loading) instead of "ready". */
  until?: 'listening' | 'ready';
  timeoutMs?: number;
}

/** Loopback, with ports the OS picks, unless the caller says otherwise: tests never race for a port. */
const LOOPBACK: Record<'detector' | 'gateway', Record<string, string>> = {
  detector: { DETECTOR_HOST: '127.0.0.1', DETECTOR_PORT: '0', DETECTOR_METRICS_PORT: '0' },
  gateway: { GATEWAY_HOST: '127.0.0.1', GATEWAY_PORT: '0', GATEWAY_METRICS_PORT: '0' },
};

/**
 * Spawns `node apps/<name>/dist/main.js` and resolves once it logs `<name> ready` (its JSON
 * line carries the bound ports, so services bind port 0 and never race for a free one).
 */
export function startService(name: 'detector' | 'gateway', env: Record<string, string>, options: StartOptions = {}): Promise<RunningService> {
  const { cwd = REPO_ROOT, until = 'ready', timeoutMs = 180_000, wrap = (argv: string[]) => argv } = options;
  const script = path.join(REPO_ROOT, 'apps', name, 'dist', 'main.js');
  const [file, ...args] = wrap([process.execPath, script]);
  // The images' malloc setting (docker/Dockerfile), so memory is measured as deployed.
  const child = spawn(file!, args, { cwd, env: { MALLOC_ARENA_MAX: '2', ...process.env, ...LOOPBACK[name], ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const output: string[] = [];
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const stop = async (signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    return exited;
  };
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      void stop('SIGKILL');
      reject(new Error(`${name} did not start within ${timeoutMs} ms:\n${output.join('\n')}`));
    }, timeoutMs);
    readline.createInterface({ input: child.stderr! }).on('line', (line) => output.push(line));
    readline.createInterface({ input: child.stdout! }).on('line', (line) => {
      output.push(line);
      if (!line.includes(`"${name} ${until}"`)) return;
      clearTimeout(timer);
      const ready = JSON.parse(line) as Record<string, unknown> & { port: number };
      resolve({ name, port: ready.port, ready, process: child, output, stop });
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited with ${code} before listening:\n${output.join('\n')}`));
    });
  });
}

/** Resolves when the service prints a line containing `text` (already printed lines count). */
export function waitForLine(service: RunningService, text: string, timeoutMs = 180_000): Promise<string> {
  const found = service.output.find((line) => line.includes(text));
  if (found) return Promise.resolve(found);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${service.name} never printed "${text}":\n${service.output.join('\n')}`)), timeoutMs);
    const onLine = (line: string): void => {
      if (!line.includes(text)) return;
      clearTimeout(timer);
      resolve(line);
    };
    for (const stream of [service.process.stdout!, service.process.stderr!]) readline.createInterface({ input: stream }).on('line', onLine);
  });
}

/** Prometheus text exposition of a service's /metrics. */
export async function scrapeMetrics(port: number): Promise<string> {
  const response = await fetch(`http://127.0.0.1:${port}/metrics`);
  if (!response.ok) throw new Error(`metrics answered ${response.status}`);
  return response.text();
}

/** The value of one sample, e.g. metricValue(text, 'detector_images_total', { code: 'OK' }); 0 when absent. */
export function metricValue(text: string, name: string, labels: Record<string, string> = {}): number {
  const wanted = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
    if (!match || match[1] !== name) continue;
    const present = match[2] ?? '';
    if (wanted.every((label) => present.includes(label))) return Number(match[3]);
  }
  return 0;
}

/** Polls `condition` every 10 ms until it holds; fails naming `what` after timeoutMs. */
export async function until(condition: () => Promise<boolean>, what: string, timeoutMs = 30_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** `count` distinct 8-bit JPEGs: a coloured background with a bright disc at a varying place. */
export async function jpegs(count: number, width = 640, height = 480, salt = 0): Promise<Buffer[]> {
  return Promise.all(
    Array.from({ length: count }, (_, k) => {
      const i = k + salt;
      return sharp({ create: { width, height, channels: 3, background: { r: (i * 40) % 256, g: (60 + i * 17) % 256, b: 255 - ((i * 40) % 256) } } })
        .composite([{ input: Buffer.from(`<svg width="${width}" height="${height}"><circle cx="${(100 + i * 37) % width}" cy="${(120 + i * 23) % height}" r="${Math.round(height / 5)}" fill="#fff"/></svg>`) }])
        .jpeg()
        .toBuffer();
    }),
  );
}

export * from './attacks';
export * from './cgroup';

/** grpc.health.v1 status of a server ('' = the whole server). */
export async function healthOf(port: number, service = '', credentials = grpc.credentials.createInsecure(), options: grpc.ChannelOptions = {}): Promise<string> {
  const client = healthClient(`127.0.0.1:${port}`, credentials, options);
  try {
    return await checkHealth(client, service, Date.now() + 10_000);
  } finally {
    client.close();
  }
}

/** A client of either service: Gateway and Detector answer the same calls. */
export type SsdClient = grpc.Client & Pick<GatewayClient, 'Detect' | 'GetModelInfo'>;

/** One Detect call (deadline 60 s unless the options set one). */
export function detectCall(client: SsdClient, request: DetectRequestInit, options: grpc.CallOptions = {}, metadata = new grpc.Metadata()): Promise<DetectResponse> {
  return unary<DetectResponse>((done) => client.Detect(request, metadata, { deadline: Date.now() + 60_000, ...options }, done));
}

export function modelInfoOf(client: SsdClient, metadata = new grpc.Metadata()): Promise<ModelInfo> {
  return unary<ModelInfo>((done) => client.GetModelInfo({}, metadata, { deadline: Date.now() + 30_000 }, done));
}
