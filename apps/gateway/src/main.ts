// Gateway process: public gRPC listener -> detectors. Logs one JSON line "gateway ready" with
// the bound ports once it can serve.
import * as grpc from '@grpc/grpc-js';
import { loadSsdPackage } from '@edge-ssd/protos';
import { addOperationalServices, bindServer, createLogger, createRegistry, onTerminate, shutdownServer, startMetricsServer } from '@edge-ssd/service-kit';
import { loadGatewayConfig } from './config';
import { createGatewayService } from './service/gateway-service';
import { DetectorClients } from './upstream/detector-clients';

async function main(): Promise<void> {
  const config = loadGatewayConfig();
  const log = createLogger('gateway', config.logLevel);
  const registry = createRegistry('gateway_');
  const metricsServer = await startMetricsServer(registry, config.host, config.metricsPort);
  const detectors = new DetectorClients(config.detectorTarget, config.maxMessageBytes);
  const { definition, Gateway } = loadSsdPackage();
  const server = new grpc.Server({
    'grpc.max_receive_message_length': config.maxMessageBytes,
    'grpc.max_send_message_length': config.maxMessageBytes,
  });
  const health = addOperationalServices(server, definition, ['ssd.v1.Gateway']);
  server.addService(
    Gateway.service,
    createGatewayService({ detectors, maxImagesPerRequest: config.maxImagesPerRequest, defaultDeadlineMs: config.defaultDeadlineMs, log }),
  );
  const port = await bindServer(server, `${config.host}:${config.port}`);
  health.set('SERVING');
  log.info('gateway ready', { host: config.host, port, metricsPort: metricsServer.port, detectors: config.detectorTarget });

  onTerminate(async (signal) => {
    log.info('draining', { signal });
    health.set('NOT_SERVING');
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
