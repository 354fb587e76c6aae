// The life of a gRPC server process, the same for both apps: logger, Prometheus registry and
// /metrics server, the gRPC server with health and reflection, listening, and on SIGTERM (or
// SIGINT) the drain: NOT_SERVING, no new calls, calls in flight finished (cancelled after the
// grace period), then the app's own drain steps in order, then exit 0. A second signal exits at once.
import type * as grpc from '@grpc/grpc-js';
import { Server } from '@grpc/grpc-js';
import type { PackageDefinition } from '@grpc/proto-loader';
import type { Registry } from 'prom-client';
import { bindServer, shutdownServer } from './grpc';
import { createLogger, type Logger, type LogLevel } from './log';
import { createRegistry, startMetricsServer } from './metrics';
import { addOperationalServices, type Health } from './ops';
import { onTerminate } from './signals';

export interface ServeOptions {
  /** The app's name: the logs' `service`, the metrics' prefix, "<name> listening". */
  name: string;
  logLevel: LogLevel;
  host: string;
  port: number;
  metricsPort: number;
  credentials: grpc.ServerCredentials;
  /** Message limits, interceptors, connection management. */
  serverOptions: grpc.ServerOptions;
  /** The package served, for reflection. */
  definition: PackageDefinition;
  /** Services reported by grpc.health.v1 besides the whole server (''). */
  services: string[];
  shutdownGraceMs: number;
}

export interface Serving {
  log: Logger;
  registry: Registry;
  server: grpc.Server;
  health: Health;
  metricsPort: number;
  /** Binds the server and logs "<name> listening"; the bound port. */
  listen(fields?: Record<string, unknown>): Promise<number>;
  /** A step of the drain, run after the server has stopped taking calls (in the order added). */
  onDrain(step: () => Promise<void> | void): void;
  /**
   * Told when the drain begins, before the server waits for its calls: long-lived calls (streams)
   * that would otherwise keep it waiting until the grace period finish their work and end.
   */
  onDrainStart(start: () => void): void;
  readonly draining: boolean;
}

export async function serve(options: ServeOptions): Promise<Serving> {
  const log = createLogger(options.name, options.logLevel);
  const registry = createRegistry(`${options.name}_`);
  const metricsServer = await startMetricsServer(registry, options.host, options.metricsPort);
  const server = new Server(options.serverOptions);
  const health = addOperationalServices(server, options.definition, options.services);
  const steps: Array<() => Promise<void> | void> = [];
  const starts: Array<() => void> = [];
  let draining = false;
  onTerminate(async (signal) => {
    draining = true;
    log.info('draining', { signal });
    health.set('NOT_SERVING');
    for (const start of starts) start();
    await shutdownServer(server, options.shutdownGraceMs);
    for (const step of steps) await step();
    await metricsServer.close();
    log.info('stopped');
  });
  return {
    log,
    registry,
    server,
    health,
    metricsPort: metricsServer.port,
    async listen(fields = {}) {
      const port = await bindServer(server, `${options.host}:${options.port}`, options.credentials);
      log.info(`${options.name} listening`, { host: options.host, port, metricsPort: metricsServer.port, ...fields });
      return port;
    },
    onDrain: (step) => void steps.push(step),
    onDrainStart: (start) => void starts.push(start),
    get draining() {
      return draining;
    },
  };
}
