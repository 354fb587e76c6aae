// Every setting of the gateway, read from the environment once at start. Defaults live here
// and only here; the README's table lists the same names.
import { envEnum, envInt, envString, MiB, type Env, type LogLevel } from '@edge-ssd/service-kit';
import { parseDetectorTarget, type DetectorTarget } from './upstream/detector-target';

export interface GatewayConfig {
  host: string;
  port: number;
  /** Prometheus /metrics over HTTP. */
  metricsPort: number;
  detectorTarget: DetectorTarget;
  maxImagesPerRequest: number;
  maxMessageBytes: number;
  /** Deadline given to detector calls when the client set none. */
  defaultDeadlineMs: number;
  shutdownGraceMs: number;
  logLevel: LogLevel;
}

export function loadGatewayConfig(env: Env = process.env): GatewayConfig {
  return {
    host: envString(env, 'GATEWAY_HOST', '0.0.0.0'),
    port: envInt(env, 'GATEWAY_PORT', 50051, { min: 0, max: 65535 }),
    metricsPort: envInt(env, 'GATEWAY_METRICS_PORT', 9465, { min: 0, max: 65535 }),
    detectorTarget: parseDetectorTarget(envString(env, 'DETECTOR_TARGET', '127.0.0.1:50052')),
    maxImagesPerRequest: envInt(env, 'GATEWAY_MAX_IMAGES', 256, { min: 1, max: 100_000 }),
    maxMessageBytes: envInt(env, 'GATEWAY_MAX_MESSAGE_BYTES', 64 * MiB, { min: 1024, max: 2 ** 31 - 1 }),
    defaultDeadlineMs: envInt(env, 'GATEWAY_DEFAULT_DEADLINE_MS', 30_000, { min: 1 }),
    shutdownGraceMs: envInt(env, 'GATEWAY_SHUTDOWN_GRACE_MS', 10_000, { min: 0 }),
    logLevel: envEnum(env, 'LOG_LEVEL', ['debug', 'info', 'warn', 'error'] as const, 'info'),
  };
}
