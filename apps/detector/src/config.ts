// Every setting of the detector, read from the environment once at start. Defaults live here
// and only here; the README's table lists the same names.
import * as path from 'node:path';
import type { ImagePath } from '@edge-ssd/ssd-pipeline';
import {
  ConfigError,
  envBool,
  envEnum,
  envInt,
  envOptionalBytes,
  envOptionalString,
  envString,
  memoryLimit,
  MiB,
  hostLimits,
  type HostLimits,
  type Env,
  type LogLevel,
  type MemoryLimit,
} from '@edge-ssd/service-kit';

export const DEFAULT_MODEL_DIR = 'models';
/** Served when neither MODEL_PATH nor MODEL_NAME is set. */
export const DEFAULT_MODEL_NAME = 'faceapi-ssd-mobilenetv1';

export interface DetectorConfig {
  host: string;
  port: number;
  /** Prometheus /metrics over HTTP. */
  metricsPort: number;
  /** The ONNX model served: MODEL_PATH, else the built-in model MODEL_NAME in ./models. */
  modelPath: string;
  /** Set when MODEL_PATH was not: the built-in model expected at modelPath (made by `model prepare`). */
  builtinModel?: string;
  /** MODEL_PRECISION when set: the served model must have it (a built-in one is picked by it). */
  precision?: 'fp32' | 'int8';
  /** Piscina workers, each holding one onnxruntime session. */
  poolSize: number;
  /** onnxruntime intra-op threads per session. */
  intraOpThreads: number;
  /** Session runs at once across the pool; fewer than poolSize gates them (worker/run-gate.ts). */
  concurrentRuns: number;
  /** Let idle ORT threads spin: a little lower latency, a busy-looking CPU when idle. */
  ortSpinning: boolean;
  /** Most images one session run takes; larger requests are split across workers. */
  maxBatch: number;
  /** How long a partial batch may wait for images of other requests; 0 = take what is queued. */
  maxQueueDelayMs: number;
  /** Images waiting for a worker before new requests are refused with RESOURCE_EXHAUSTED. */
  maxQueue: number;
  maxImagesPerRequest: number;
  /** Largest decoded image accepted (width x height); larger gets RESOURCE_EXHAUSTED. */
  maxImagePixels: number;
  /** Largest encoded (or raw) image accepted, in bytes. */
  maxImageBytes: number;
  maxMessageBytes: number;
  /** The memory the process may use (cgroup limit, DETECTOR_MEMORY_LIMIT, or the fallback); budgets derive from it. */
  memoryLimit: MemoryLimit;
  /** Longest wait for memory budget before RESOURCE_EXHAUSTED (the call's deadline may end it sooner). */
  memoryWaitMs: number;
  /** Images decoded at once (each holds a libvips working set). */
  decodeConcurrency: number;
  /** `fast`: images at least twice the input size are resized by libvips while decoding (README). */
  imagePath: ImagePath;
  /** Server maxima of the per-request options. */
  maxTopK: number;
  maxKeepTopK: number;
  /**
   * Connections are closed (GOAWAY, after in-flight calls finish) after this long, so clients
   * re-resolve DNS and find detector pods added since: grpc-js does not poll DNS by itself.
   */
  maxConnectionAgeMs: number;
  /**
   * How long calls still running on a connection past its age may go on: a request may take
   * long (256 images on an RK3399, VGG16-SSD anywhere), and GOAWAY already stops new calls on it.
   */
  maxConnectionAgeGraceMs: number;
  /** Force-close calls still running this long after SIGTERM. */
  shutdownGraceMs: number;
  /** TLS for the listener; with tlsClientCa, clients (the gateway) must present a certificate it signed. */
  tlsCert?: string;
  tlsKey?: string;
  tlsClientCa?: string;
  logLevel: LogLevel;
}

function tls(env: Env): { tlsCert?: string; tlsKey?: string; tlsClientCa?: string } {
  const tlsCert = envOptionalString(env, 'DETECTOR_TLS_CERT');
  const tlsKey = envOptionalString(env, 'DETECTOR_TLS_KEY');
  const tlsClientCa = envOptionalString(env, 'DETECTOR_TLS_CLIENT_CA');
  if ((tlsCert === undefined) !== (tlsKey === undefined)) throw new ConfigError('DETECTOR_TLS_CERT and DETECTOR_TLS_KEY go together');
  if (tlsClientCa && !tlsCert) throw new ConfigError('DETECTOR_TLS_CLIENT_CA needs DETECTOR_TLS_CERT and DETECTOR_TLS_KEY');
  return { tlsCert, tlsKey, tlsClientCa };
}

/** Largest encoded detection in a response (a label of up to 64 bytes, two boxes, ids, framing). */
const DETECTION_WIRE_BYTES = 128;

export function loadDetectorConfig(env: Env = process.env, host: HostLimits = hostLimits()): DetectorConfig {
  const { cpus } = host;
  const memory = memoryLimit(envOptionalBytes(env, 'DETECTOR_MEMORY_LIMIT', { min: 64 * MiB }), host);
  const modelPathSetting = envOptionalString(env, 'MODEL_PATH');
  const modelName = envString(env, 'MODEL_NAME', DEFAULT_MODEL_NAME);
  if (!/^[a-z0-9][a-z0-9.-]*$/.test(modelName)) throw new ConfigError(`MODEL_NAME must be a model name such as ${DEFAULT_MODEL_NAME}, got '${modelName}'`);
  const precision = env.MODEL_PRECISION === undefined || env.MODEL_PRECISION === '' ? undefined : envEnum(env, 'MODEL_PRECISION', ['fp32', 'int8'] as const, 'fp32');
  // The built-in INT8 variant of a model is `<name>-int8` (model list).
  const builtinModel = precision === 'int8' && !modelName.endsWith('-int8') ? `${modelName}-int8` : modelName;
  // By default one run has every CPU of the quota (a lone image is as fast as the cores allow) and
  // one more worker preprocesses the next batch meanwhile; runs at once x threads never exceed the
  // quota, or onnxruntime threads fight each other for it (README, "Latency and throughput").
  const intraOpThreads = envInt(env, 'DETECTOR_INTRA_OP_THREADS', cpus, { min: 1, max: 256 });
  const concurrentRuns = envInt(env, 'DETECTOR_CONCURRENT_RUNS', Math.max(1, Math.floor(cpus / intraOpThreads)), { min: 1, max: 256 });
  const poolSize = envInt(env, 'DETECTOR_POOL_SIZE', concurrentRuns + 1, { min: 1, max: 256 });
  const config: DetectorConfig = {
    host: envString(env, 'DETECTOR_HOST', '0.0.0.0'),
    port: envInt(env, 'DETECTOR_PORT', 50052, { min: 0, max: 65535 }),
    metricsPort: envInt(env, 'DETECTOR_METRICS_PORT', 9464, { min: 0, max: 65535 }),
    modelPath: path.resolve(modelPathSetting ?? path.join(DEFAULT_MODEL_DIR, `${builtinModel}.onnx`)),
    builtinModel: modelPathSetting === undefined ? builtinModel : undefined,
    ...(precision === undefined ? {} : { precision }),
    poolSize,
    intraOpThreads,
    concurrentRuns: Math.min(concurrentRuns, poolSize),
    ortSpinning: envBool(env, 'DETECTOR_ORT_SPINNING', false),
    maxBatch: envInt(env, 'DETECTOR_MAX_BATCH', 8, { min: 1, max: 256 }),
    maxQueueDelayMs: envInt(env, 'DETECTOR_MAX_QUEUE_DELAY_MS', 0, { min: 0, max: 60_000 }),
    maxQueue: envInt(env, 'DETECTOR_MAX_QUEUE', 512, { min: 1, max: 1_000_000 }),
    maxImagesPerRequest: envInt(env, 'DETECTOR_MAX_IMAGES', 256, { min: 1, max: 100_000 }),
    maxImagePixels: envInt(env, 'DETECTOR_MAX_IMAGE_PIXELS', 4096 * 4096, { min: 1, max: 0x3fff * 0x3fff }),
    maxImageBytes: envInt(env, 'DETECTOR_MAX_IMAGE_BYTES', 32 * MiB, { min: 1 }),
    // A message is read whole before it can be looked at: the largest one is sized to the memory.
    maxMessageBytes: envInt(env, 'DETECTOR_MAX_MESSAGE_BYTES', Math.min(64 * MiB, Math.max(4 * MiB, Math.floor(memory.bytes / 32 / MiB) * MiB)), { min: 1024, max: 2 ** 31 - 1 }),
    memoryLimit: memory,
    memoryWaitMs: envInt(env, 'DETECTOR_MEMORY_WAIT_MS', 10_000, { min: 0 }),
    decodeConcurrency: envInt(env, 'DETECTOR_DECODE_CONCURRENCY', cpus, { min: 1, max: 256 }),
    imagePath: envEnum(env, 'DETECTOR_IMAGE_PATH', ['exact', 'fast'] as const, 'exact'),
    maxTopK: envInt(env, 'DETECTOR_MAX_TOP_K', 200, { min: 1, max: 100_000 }),
    maxKeepTopK: envInt(env, 'DETECTOR_MAX_KEEP_TOP_K', 200, { min: 1, max: 100_000 }),
    maxConnectionAgeMs: envInt(env, 'DETECTOR_MAX_CONNECTION_AGE_MS', 30_000, { min: 1000 }),
    maxConnectionAgeGraceMs: envInt(env, 'DETECTOR_MAX_CONNECTION_AGE_GRACE_MS', 600_000, { min: 0 }),
    shutdownGraceMs: envInt(env, 'DETECTOR_SHUTDOWN_GRACE_MS', 10_000, { min: 0 }),
    ...tls(env),
    logLevel: envEnum(env, 'LOG_LEVEL', ['debug', 'info', 'warn', 'error'] as const, 'info'),
  };
  // Options never make a response too large to send.
  const largestResponse = config.maxImagesPerRequest * config.maxKeepTopK * DETECTION_WIRE_BYTES;
  if (largestResponse > config.maxMessageBytes) {
    throw new ConfigError(
      `DETECTOR_MAX_IMAGES (${config.maxImagesPerRequest}) x DETECTOR_MAX_KEEP_TOP_K (${config.maxKeepTopK}) detections may not fit DETECTOR_MAX_MESSAGE_BYTES (${config.maxMessageBytes})`,
    );
  }
  return config;
}
