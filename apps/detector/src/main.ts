// Detector process: model -> warmed-up worker pool -> gRPC server. Logs one JSON line
// "detector listening" with the bound port once it can serve.
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
// Loaded once on the main thread so the native library stays mapped for the process's life,
// whatever happens to individual worker threads.
import 'onnxruntime-node';
import { prepareDefaultModel } from '@edge-ssd/bn-fuse';
import { loadSsdPackage } from '@edge-ssd/protos';
import { bindServer, createLogger, onTerminate, shutdownServer } from '@edge-ssd/service-kit';
import { loadDetectorConfig } from './config';
import { loadModel } from './model/load-model';
import { createDetectService } from './service/detect-service';
import { InferencePool } from './worker/pool';

async function main(): Promise<void> {
  const config = loadDetectorConfig();
  const log = createLogger('detector', config.logLevel);
  if (config.useDefaultModel) {
    const { created } = await prepareDefaultModel(path.dirname(config.modelPath));
    if (created) log.info('wrote the default model', { path: config.modelPath });
  } else if (!existsSync(config.modelPath)) {
    throw new Error(`MODEL_PATH ${config.modelPath} does not exist`);
  }
  const model = await loadModel(config.modelPath);
  const pool = new InferencePool(
    { modelPath: model.path, spec: model.spec, intraOpThreads: config.intraOpThreads, ortSpinning: config.ortSpinning, maxBatch: config.maxBatch },
    config.poolSize,
    config.maxQueue,
  );
  await pool.ready();

  const server = new grpc.Server({
    'grpc.max_receive_message_length': config.maxMessageBytes,
    'grpc.max_send_message_length': config.maxMessageBytes,
  });
  server.addService(
    loadSsdPackage().Detector.service,
    createDetectService({
      pool,
      modelInfo: model.info,
      limits: { maxPixels: config.maxImagePixels, maxImagesPerRequest: config.maxImagesPerRequest },
      log,
    }),
  );
  const port = await bindServer(server, `${config.host}:${config.port}`);
  log.info('detector listening', {
    host: config.host,
    port,
    model: model.info.name,
    modelPath: model.path,
    sha256: model.info.sha256,
    bnFused: model.info.bnFused,
    poolSize: config.poolSize,
    intraOpThreads: config.intraOpThreads,
    maxBatch: config.maxBatch,
  });

  onTerminate(async (signal) => {
    log.info('shutting down', { signal });
    await shutdownServer(server, config.shutdownGraceMs);
    await pool.close();
    log.info('stopped');
  });
}

main().catch((error: unknown) => {
  console.error(`detector: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
