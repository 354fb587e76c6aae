// Gateway process: public gRPC listener -> detectors. Logs one JSON line "gateway ready" with
// the bound ports once it listens. Its health is SERVING while at least one detector is.
import * as grpc from '@grpc/grpc-js';
import { loadSsdPackage } from '@edge-ssd/protos';
import { addOperationalServices, bindServer, createLogger, createRegistry, onTerminate, shutdownServer, startMetricsServer } from '@edge-ssd/service-kit';
import { loadGatewayConfig } from './config';
import { GatewayMetrics } from './metrics';
import { TokenAuth } from './security/auth';
import { detectorCredentials, serverCredentials } from './security/tls';
import { Dispatcher } from './service/dispatch';
import { createGatewayService } from './service/gateway-service';
import { DetectorSet } from './upstream/detector-set';
import { resolveTarget } from './upstream/resolve';

async function main(): Promise<void> {
  const config = loadGatewayConfig();
  const log = createLogger('gateway', config.logLevel);
  const registry = createRegistry('gateway_');
  const metrics = new GatewayMetrics(registry);
  const metricsServer = await startMetricsServer(registry, config.host, config.metricsPort);

  const { definition, Gateway } = loadSsdPackage();
  const server = new grpc.Server({
    'grpc.max_receive_message_length': config.maxMessageBytes,
    'grpc.max_send_message_length': config.maxMessageBytes,
  });
  const health = addOperationalServices(server, definition, ['ssd.v1.Gateway']);
  let draining = false;
  const detectors = new DetectorSet({
    credentials: detectorCredentials(config),
    channelOptions: {
      'grpc.max_receive_message_length': config.maxMessageBytes,
      'grpc.max_send_message_length': config.maxMessageBytes,
      ...(config.detectorTlsServerName ? { 'grpc.ssl_target_name_override': config.detectorTlsServerName } : {}),
    },
    healthIntervalMs: config.healthIntervalMs,
    log,
    onHealthChange: (healthy) => {
      metrics.healthyDetectors.set(healthy);
      if (!draining) health.set(healthy > 0 ? 'SERVING' : 'NOT_SERVING');
    },
  });

  const refresh = async (): Promise<void> => {
    try {
      detectors.update(await resolveTarget(config.detectorTarget));
    } catch (error) {
      // Keep the detectors we have: a resolver hiccup must not empty the set.
      log.warn('cannot resolve DETECTOR_TARGET', { err: error });
    }
  };
  await refresh();
  const resolver = setInterval(() => void refresh(), config.resolveIntervalMs);
  resolver.unref();

  const dispatcher = new Dispatcher(
    detectors,
    config.chunkSize,
    { maxAttempts: config.maxAttempts, initialBackoffMs: config.retryInitialBackoffMs, maxBackoffMs: config.retryMaxBackoffMs },
    metrics.observer(),
  );
  server.addService(
    Gateway.service,
    createGatewayService({
      dispatcher,
      detectors,
      auth: new TokenAuth(config.authTokens),
      maxImagesPerRequest: config.maxImagesPerRequest,
      maxConcurrency: config.maxConcurrency,
      defaultDeadlineMs: config.defaultDeadlineMs,
      log,
      record: (code, imageCodes) => metrics.request(code, imageCodes),
      inFlight: (delta) => metrics.inFlight.inc(delta),
    }),
  );
  const port = await bindServer(server, `${config.host}:${config.port}`, serverCredentials(config));
  log.info('gateway ready', {
    host: config.host,
    port,
    metricsPort: metricsServer.port,
    tls: config.tlsCert !== undefined,
    auth: config.authTokens.length > 0,
    detectors: detectors.addresses(),
  });

  onTerminate(async (signal) => {
    log.info('draining', { signal });
    draining = true;
    health.set('NOT_SERVING');
    clearInterval(resolver);
    await shutdownServer(server, config.shutdownGraceMs);
    detectors.close();
    await metricsServer.close();
    log.info('stopped');
  });
}

main().catch((error: unknown) => {
  console.error(`gateway: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
