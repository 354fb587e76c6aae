// Every setting of the gateway, read from the environment once at start. Defaults live here
// and only here; the README's table lists the same names.
import { readFileSync } from 'node:fs';
import {
  ConfigError,
  envEnum,
  envInt,
  envOptionalBytes,
  envOptionalString,
  envString,
  hostLimits,
  memoryLimit,
  MiB,
  type Env,
  type HostLimits,
  type LogLevel,
  type MemoryLimit,
} from '@edge-ssd/service-kit';
import { parseTokenFile } from './security/auth';
import { parseDetectorTarget, type DetectorTarget } from './upstream/detector-target';

export interface GatewayConfig {
  host: string;
  port: number;
  /** Prometheus /metrics over HTTP. */
  metricsPort: number;
  /** The HTTP API (DeepStack-compatible routes, /v1/detect, the demo page); undefined = off. */
  httpPort?: number;
  /** Detectors serving a face model for POST /v1/vision/face; undefined = those of DETECTOR_TARGET. */
  faceDetectorTarget?: DetectorTarget;
  detectorTarget: DetectorTarget;
  /** How often the target is resolved again (DNS names, the list file). */
  resolveIntervalMs: number;
  /** How often each detector's grpc.health.v1 status is checked. */
  healthIntervalMs: number;
  /** Images per detector call; a batch is split into chunks sent in parallel. */
  chunkSize: number;
  /** Attempts per chunk, the first included, each on another detector when there is one. */
  maxAttempts: number;
  retryInitialBackoffMs: number;
  retryMaxBackoffMs: number;
  /** Shortest time one detector call is given; each gets at least its share of the time left (dispatch.ts). */
  attemptTimeoutMs: number;
  /** Detect calls in progress at once; beyond it, RESOURCE_EXHAUSTED at once. */
  maxConcurrency: number;
  /** DetectStream frames in flight per stream: the default, and the most a client may ask for. */
  streamMaxInFlight: number;
  maxImagesPerRequest: number;
  maxMessageBytes: number;
  /** Longest `class_ids` accepted, counted before the request is decoded. */
  maxClassIds: number;
  /** The memory the process may use (cgroup limit, GATEWAY_MEMORY_LIMIT, or the fallback); budgets derive from it. */
  memoryLimit: MemoryLimit;
  /** Longest wait for memory before RESOURCE_EXHAUSTED (a waiting call's body is not read yet: it costs nothing). */
  memoryWaitMs: number;
  /** Deadline given to detector calls when the client set none. */
  defaultDeadlineMs: number;
  shutdownGraceMs: number;
  /** Bearer tokens accepted; empty = no authentication. Never logged. */
  authTokens: string[];
  tlsCert?: string;
  tlsKey?: string;
  detectorTlsCa?: string;
  detectorTlsCert?: string;
  detectorTlsKey?: string;
  detectorTlsServerName?: string;
  logLevel: LogLevel;
}

function authTokens(env: Env): string[] {
  const inline = (envOptionalString(env, 'GATEWAY_AUTH_TOKENS') ?? '').split(',').map((t) => t.trim()).filter((t) => t !== '');
  const file = envOptionalString(env, 'GATEWAY_AUTH_TOKENS_FILE');
  if (!file) return inline;
  try {
    return [...inline, ...parseTokenFile(readFileSync(file, 'utf8'))];
  } catch (error) {
    throw new ConfigError(`GATEWAY_AUTH_TOKENS_FILE ${file}: ${(error as Error).message}`);
  }
}

function faceTarget(text: string | undefined): DetectorTarget | undefined {
  try {
    return text === undefined ? undefined : parseDetectorTarget(text);
  } catch (error) {
    throw new ConfigError((error as Error).message.replace(/^DETECTOR_TARGET/, 'GATEWAY_FACE_DETECTOR_TARGET'));
  }
}

function pair(env: Env, certName: string, keyName: string): { cert?: string; key?: string } {
  const cert = envOptionalString(env, certName);
  const key = envOptionalString(env, keyName);
  if ((cert === undefined) !== (key === undefined)) throw new ConfigError(`${certName} and ${keyName} go together`);
  return { cert, key };
}

export function loadGatewayConfig(env: Env = process.env, host: HostLimits = hostLimits()): GatewayConfig {
  const memory = memoryLimit(envOptionalBytes(env, 'GATEWAY_MEMORY_LIMIT', { min: 32 * MiB }), host);
  const listener = pair(env, 'GATEWAY_TLS_CERT', 'GATEWAY_TLS_KEY');
  const client = pair(env, 'GATEWAY_DETECTOR_TLS_CERT', 'GATEWAY_DETECTOR_TLS_KEY');
  const detectorTlsCa = envOptionalString(env, 'GATEWAY_DETECTOR_TLS_CA');
  if (client.cert && !detectorTlsCa) throw new ConfigError('GATEWAY_DETECTOR_TLS_CERT needs GATEWAY_DETECTOR_TLS_CA');
  const retryInitialBackoffMs = envInt(env, 'GATEWAY_RETRY_INITIAL_BACKOFF_MS', 50, { min: 1 });
  return {
    host: envString(env, 'GATEWAY_HOST', '0.0.0.0'),
    port: envInt(env, 'GATEWAY_PORT', 50051, { min: 0, max: 65535 }),
    metricsPort: envInt(env, 'GATEWAY_METRICS_PORT', 9465, { min: 0, max: 65535 }),
    // Off unless set: a listener that takes images without gRPC's framing is opened on purpose
    // (`npm start` and the Kubernetes base set 8080).
    httpPort: envOptionalString(env, 'GATEWAY_HTTP_PORT') === undefined ? undefined : envInt(env, 'GATEWAY_HTTP_PORT', 0, { min: 0, max: 65535 }),
    faceDetectorTarget: faceTarget(envOptionalString(env, 'GATEWAY_FACE_DETECTOR_TARGET')),
    detectorTarget: parseDetectorTarget(envString(env, 'DETECTOR_TARGET', '127.0.0.1:50052')),
    resolveIntervalMs: envInt(env, 'GATEWAY_RESOLVE_INTERVAL_MS', 5000, { min: 100 }),
    healthIntervalMs: envInt(env, 'GATEWAY_HEALTH_INTERVAL_MS', 1000, { min: 50 }),
    chunkSize: envInt(env, 'GATEWAY_CHUNK_SIZE', 8, { min: 1 }),
    maxAttempts: envInt(env, 'GATEWAY_MAX_ATTEMPTS', 3, { min: 1, max: 10 }),
    retryInitialBackoffMs,
    retryMaxBackoffMs: envInt(env, 'GATEWAY_RETRY_MAX_BACKOFF_MS', 1000, { min: retryInitialBackoffMs }),
    attemptTimeoutMs: envInt(env, 'GATEWAY_ATTEMPT_TIMEOUT_MS', 5_000, { min: 1 }),
    maxConcurrency: envInt(env, 'GATEWAY_MAX_CONCURRENCY', 64, { min: 1 }),
    streamMaxInFlight: envInt(env, 'GATEWAY_STREAM_MAX_IN_FLIGHT', 4, { min: 1, max: 64 }),
    maxImagesPerRequest: envInt(env, 'GATEWAY_MAX_IMAGES', 256, { min: 1, max: 100_000 }),
    // A message is read whole before it can be looked at: the largest one is sized to the memory.
    maxMessageBytes: envInt(env, 'GATEWAY_MAX_MESSAGE_BYTES', Math.min(64 * MiB, Math.max(4 * MiB, Math.floor(memory.bytes / 16 / MiB) * MiB)), { min: 1024, max: 2 ** 31 - 1 }),
    maxClassIds: envInt(env, 'GATEWAY_MAX_CLASS_IDS', 1024, { min: 1 }),
    memoryLimit: memory,
    memoryWaitMs: envInt(env, 'GATEWAY_MEMORY_WAIT_MS', 30_000, { min: 0 }),
    defaultDeadlineMs: envInt(env, 'GATEWAY_DEFAULT_DEADLINE_MS', 30_000, { min: 1 }),
    shutdownGraceMs: envInt(env, 'GATEWAY_SHUTDOWN_GRACE_MS', 10_000, { min: 0 }),
    authTokens: authTokens(env),
    tlsCert: listener.cert,
    tlsKey: listener.key,
    detectorTlsCa,
    detectorTlsCert: client.cert,
    detectorTlsKey: client.key,
    detectorTlsServerName: envOptionalString(env, 'GATEWAY_DETECTOR_TLS_SERVER_NAME'),
    logLevel: envEnum(env, 'LOG_LEVEL', ['debug', 'info', 'warn', 'error'] as const, 'info'),
  };
}
