// Gateway process: public gRPC listener -> detectors. Logs one JSON line "gateway ready" with
// the bound ports once it listens. Its health is SERVING while at least one detector is.
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { loadSsdPackage } from '@edge-ssd/protos';
import { ByteBudget, gateInterceptor, measuredService, serve } from '@edge-ssd/service-kit';
import { loadGatewayConfig } from './config';
import { startFacePool } from './http/face-pool';
import { DetectorPool } from './http/pool';
import { startHttpServer } from './http/server';
import { GatewayMetrics } from './metrics';
import { planGatewayMemory, REQUEST_FACTOR } from './memory-plan';
import { Admission } from './security/admission';
import { TokenAuth } from './security/auth';
import { detectorCredentials, serverCredentials } from './security/tls';
import { Dispatcher } from './service/dispatch';
import { createGatewayService } from './service/gateway-service';
import { createDetectStream } from './service/detect-stream';
import { DetectorSet } from './upstream/detector-set';
import { resolveTarget } from './upstream/resolve';

async function main(): Promise<void> {
  const config = loadGatewayConfig();
  const ssd = loadSsdPackage();
  const auth = new TokenAuth(config.authTokens);
  // The modules are loaded and nothing is held yet: what is left of the limit is for calls.
  const plan = planGatewayMemory(config.memoryLimit.bytes, process.memoryUsage.rss(), config.maxMessageBytes);
  const requests = new ByteBudget(plan.requestBytes, { name: 'gateway request budget', maxWaiters: config.maxConcurrency, maxWaitMs: config.memoryWaitMs });
  const operational = new ByteBudget(plan.operationalBytes, { name: 'gateway budget for health and reflection calls', maxWaiters: 1, maxWaitMs: 0 });
  let inFlight: (delta: number) => void = () => undefined;
  const admission = new Admission({
    auth,
    maxConcurrency: config.maxConcurrency,
    maxMessageBytes: config.maxMessageBytes,
    maxImagesPerRequest: config.maxImagesPerRequest,
    maxClassIds: config.maxClassIds,
    memoryWaitMs: config.memoryWaitMs,
    requests,
    operational,
    requestFactor: REQUEST_FACTOR,
    inFlight: (delta) => inFlight(delta),
  });
  const app = await serve({
    name: 'gateway',
    logLevel: config.logLevel,
    host: config.host,
    port: config.port,
    metricsPort: config.metricsPort,
    credentials: serverCredentials(config),
    definition: ssd.definition,
    services: ['ssd.v1.Gateway'],
    shutdownGraceMs: config.shutdownGraceMs,
    serverOptions: {
      'grpc.max_receive_message_length': config.maxMessageBytes,
      'grpc.max_send_message_length': config.maxMessageBytes,
      interceptors: [gateInterceptor((method, call) => admission.gateFor(method, call))],
    },
  });
  const { log, health } = app;
  const metrics = new GatewayMetrics(app.registry);
  metrics.watchMemory(plan, { requests, operational });
  inFlight = (delta) => metrics.inFlight.inc(delta);
  const channelOptions = {
    // The dispatcher retries on other detectors itself; grpc-js's own retries would keep a copy
    // of every chunk message sent until its call ends.
    'grpc.enable_retries': 0,
    'grpc.max_receive_message_length': config.maxMessageBytes,
    'grpc.max_send_message_length': config.maxMessageBytes,
    ...(config.detectorTlsServerName ? { 'grpc.ssl_target_name_override': config.detectorTlsServerName } : {}),
  };
  const detectors = new DetectorSet({
    credentials: detectorCredentials(config),
    channelOptions,
    healthIntervalMs: config.healthIntervalMs,
    log,
    onHealthChange: (healthy) => {
      metrics.healthyDetectors.set(healthy);
      // Readiness follows the detectors; liveness ('') does not: a gateway whose detectors are
      // down is not broken, and restarting it would not bring them back.
      if (!app.draining) health.setOne('ssd.v1.Gateway', healthy > 0 ? 'SERVING' : 'NOT_SERVING');
    },
    onRemoved: (address) => metrics.forgetDetector(address),
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

  const retryPolicy = { maxAttempts: config.maxAttempts, initialBackoffMs: config.retryInitialBackoffMs, maxBackoffMs: config.retryMaxBackoffMs, attemptTimeoutMs: config.attemptTimeoutMs };
  const dispatcher = new Dispatcher(detectors, config.chunkSize, retryPolicy, log, metrics.observer());
  const streams = createDetectStream({
    dispatcher,
    maxInFlight: config.streamMaxInFlight,
    defaultDeadlineMs: config.defaultDeadlineMs,
    log,
    observer: metrics.streamObserver(),
  });
  // Streams would hold the drain until its grace period: they answer what they have read and end.
  app.onDrainStart(() => streams.drain());
  app.server.addService(
    measuredService(ssd.Gateway.service, { Detect: admission.detectGuard(ssd), DetectStream: admission.detectStreamGuard(ssd) }),
    createGatewayService({
      dispatcher,
      detectors,
      maxImagesPerRequest: config.maxImagesPerRequest,
      defaultDeadlineMs: config.defaultDeadlineMs,
      log,
      record: (code, imageCodes) => metrics.request(code, imageCodes),
      detectStream: streams.handler,
    }),
  );
  const pool = new DetectorPool(dispatcher, detectors);
  const faces =
    config.faceDetectorTarget === undefined
      ? undefined
      : await startFacePool({
          target: config.faceDetectorTarget,
          credentials: detectorCredentials(config),
          channelOptions,
          healthIntervalMs: config.healthIntervalMs,
          resolveIntervalMs: config.resolveIntervalMs,
          chunkSize: config.chunkSize,
          retry: retryPolicy,
          log,
          observer: metrics.observer(),
          onRemoved: (address) => metrics.forgetDetector(address),
        });
  const http =
    config.httpPort === undefined
      ? undefined
      : await startHttpServer(
          {
            admission,
            auth,
            pool,
            facePool: faces?.pool ?? pool,
            maxImageBytes: config.maxMessageBytes,
            maxClassIds: config.maxClassIds,
            deadlineMs: config.defaultDeadlineMs,
            staticDir: path.join(__dirname, '..', 'static'),
            log,
            observe: { request: (route, status, seconds) => metrics.httpRequest(route, status, seconds), image: (code) => metrics.httpImage(code) },
            tls: config.tlsCert && config.tlsKey ? { cert: readFileSync(config.tlsCert), key: readFileSync(config.tlsKey) } : undefined,
          },
          config.host,
          config.httpPort,
        );
  // HTTP stops taking requests when the drain starts; those in flight end before the detectors go.
  let httpClosed: Promise<void> = Promise.resolve();
  app.onDrainStart(() => void (httpClosed = http?.close(config.shutdownGraceMs) ?? httpClosed));
  app.onDrain(() => httpClosed);
  app.onDrain(() => faces?.close());
  app.onDrain(() => {
    clearInterval(resolver);
    detectors.close();
  });
  const port = await app.listen();
  health.setOne('', 'SERVING');
  log.info('gateway ready', {
    host: config.host,
    port,
    metricsPort: app.metricsPort,
    tls: config.tlsCert !== undefined,
    auth: config.authTokens.length > 0,
    detectors: detectors.addresses(),
    httpPort: http?.port,
    maxMessageBytes: config.maxMessageBytes,
    memory: { limit: config.memoryLimit.bytes, limitFrom: config.memoryLimit.source, ...plan },
  });
}

main().catch((error: unknown) => {
  console.error(`gateway: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
