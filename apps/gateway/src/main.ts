// Gateway process: public gRPC listener -> detectors. Logs one JSON line "gateway listening"
// with the bound port once it can serve.
import * as grpc from '@grpc/grpc-js';
import { loadSsdPackage } from '@edge-ssd/protos';
import { bindServer, createLogger, onTerminate, shutdownServer } from '@edge-ssd/service-kit';
import { loadGatewayConfig } from './config';
import { createGatewayService } from './service/gateway-service';
import { DetectorClients } from './upstream/detector-clients';

async function main(): Promise<void> {
  const config = loadGatewayConfig();
  const log = createLogger('gateway', config.logLevel);
  const detectors = new DetectorClients(config.detectorTarget, config.maxMessageBytes);
  const server = new grpc.Server({
    'grpc.max_receive_message_length': config.maxMessageBytes,
    'grpc.max_send_message_length': config.maxMessageBytes,
  });
  server.addService(
    loadSsdPackage().Gateway.service,
    createGatewayService({ detectors, maxImagesPerRequest: config.maxImagesPerRequest, defaultDeadlineMs: config.defaultDeadlineMs, log }),
  );
  const port = await bindServer(server, `${config.host}:${config.port}`);
  log.info('gateway listening', { host: config.host, port, detectors: config.detectorTarget });

  onTerminate(async (signal) => {
    log.info('shutting down', { signal });
    await shutdownServer(server, config.shutdownGraceMs);
    detectors.close();
    log.info('stopped');
  });
}

main().catch((error: unknown) => {
  console.error(`gateway: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
