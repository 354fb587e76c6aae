// Detector process. It listens at once, reporting NOT_SERVING on grpc.health.v1 while the model
// loads and every worker warms up its session, then SERVING; on SIGTERM it goes NOT_SERVING,
// stops taking calls, finishes what is in flight and releases the sessions. Logs JSON lines:
// "detector listening" (ports bound) and "detector ready" (serving).
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
// Loaded once on the main thread so the native library stays mapped for the process's life,
// whatever happens to individual worker threads.
import 'onnxruntime-node';
import { detectRequestFields, loadSsdPackage, scanDetectRequest, MalformedMessageError } from '@edge-ssd/protos';
import type { Detection } from '@edge-ssd/ssd-core';
import {
  ByteBudget,
  callDeadline,
  createDeferredService,
  gateInterceptor,
  Limiter,
  measuredService,
  memoryGate,
  serve,
  type RequestGuard,
} from '@edge-ssd/service-kit';
import { DynamicBatcher } from './batching/dynamic-batcher';
import { loadDetectorConfig, type DetectorConfig } from './config';
import { DetectorMetrics } from './metrics';
import { planMemory, type MemoryPlan } from './memory-plan';
import { modelInfo } from './model/model-info';
import { fastDecodeSize, loadModel } from '@edge-ssd/ssd-pipeline';
import { sizeNativePools } from './runtime';
import { createDetectService } from './service/detect-service';
import { createRunGate } from './worker/run-gate';
import { InferencePool } from './worker/pool';
import type { InferenceItem } from './worker/protocol';

function serverCredentials(config: DetectorConfig): grpc.ServerCredentials {
  if (!config.tlsCert || !config.tlsKey) return grpc.ServerCredentials.createInsecure();
  const ca = config.tlsClientCa ? readFileSync(config.tlsClientCa) : null;
  return grpc.ServerCredentials.createSsl(ca, [{ cert_chain: readFileSync(config.tlsCert), private_key: readFileSync(config.tlsKey) }], ca !== null);
}

async function main(): Promise<void> {
  const config = loadDetectorConfig();
  sizeNativePools(config.decodeConcurrency);

  // Set once the model is loaded and the memory planned; until then calls are refused unread.
  const budgets: { messages?: ByteBudget; pixels?: ByteBudget; classes?: number } = {};
  const { definition, Detector } = loadSsdPackage();
  const fields = detectRequestFields(definition);
  const guard: RequestGuard = (bytes) => {
    try {
      const counts = scanDetectRequest(bytes, fields);
      if (counts.images > config.maxImagesPerRequest) return { code: grpc.status.INVALID_ARGUMENT, details: `request has ${counts.images} images; the limit is ${config.maxImagesPerRequest}` };
      if (budgets.classes !== undefined && counts.classIds > budgets.classes) {
        return { code: grpc.status.INVALID_ARGUMENT, details: `class_ids has ${counts.classIds} entries, but the model has ${budgets.classes} classes` };
      }
      return undefined;
    } catch (error) {
      if (error instanceof MalformedMessageError) return { code: grpc.status.INVALID_ARGUMENT, details: `malformed request: ${error.message}` };
      throw error;
    }
  };
  const app = await serve({
    name: 'detector',
    logLevel: config.logLevel,
    host: config.host,
    port: config.port,
    metricsPort: config.metricsPort,
    credentials: serverCredentials(config),
    definition,
    services: ['ssd.v1.Detector'],
    shutdownGraceMs: config.shutdownGraceMs,
    serverOptions: {
      'grpc.max_receive_message_length': config.maxMessageBytes,
      'grpc.max_send_message_length': config.maxMessageBytes,
      'grpc.max_connection_age_ms': config.maxConnectionAgeMs,
      'grpc.max_connection_age_grace_ms': config.maxConnectionAgeGraceMs,
      interceptors: [
        gateInterceptor((method, call) => {
          if (method.path !== '/ssd.v1.Detector/Detect') return undefined;
          const messages = budgets.messages;
          if (!messages) return { beforeRead: () => ({ code: grpc.status.UNAVAILABLE, details: 'detector is loading its model' }) };
          return memoryGate(messages, { worstCaseBytes: config.maxMessageBytes, factor: 1, maxWaitMs: config.memoryWaitMs, deadline: callDeadline(call) });
        }),
      ],
    },
  });
  const { log } = app;
  const metrics = new DetectorMetrics(app.registry);
  const detector = createDeferredService(['Detect', 'GetModelInfo'], 'detector is loading its model');
  app.server.addService(measuredService(Detector.service, { Detect: guard }), detector.implementation);
  const port = await app.listen({ memoryLimit: config.memoryLimit });

  // Filled in once the model is loaded; a SIGTERM may come before that.
  const serving: { pool?: InferencePool; batcher?: DynamicBatcher<InferenceItem, Detection[]> } = {};
  app.onDrain(() => serving.batcher?.drain());
  app.onDrain(() => serving.pool?.close());

  if (!existsSync(config.modelPath)) {
    throw new Error(
      config.builtinModel
        ? `model ${config.builtinModel} is not in ${path.dirname(config.modelPath)}: make it with \`npm run -s model -- prepare ${config.builtinModel}\` (npm start does), or set MODEL_PATH`
        : `MODEL_PATH ${config.modelPath} does not exist`,
    );
  }
  const model = await loadModel(config.modelPath);
  const info = modelInfo(model);
  if (config.precision !== undefined && config.precision !== model.precision) {
    throw new Error(`MODEL_PRECISION is ${config.precision} but ${model.path} is a ${model.precision} model`);
  }
  metrics.model(info);
  if (!model.carriesSpec) log.warn('model carries no SSD spec; serving it as chuanqi305 MobileNet-SSD VOC 300', { modelPath: model.path });
  const pool = new InferencePool(
    {
      modelPath: model.path,
      spec: model.spec,
      intraOpThreads: config.intraOpThreads,
      ortSpinning: config.ortSpinning,
      maxBatch: config.maxBatch,
      ...(config.concurrentRuns < config.poolSize ? { runGate: createRunGate(config.concurrentRuns) } : {}),
    },
    config.poolSize,
  );
  serving.pool = pool;
  await pool.ready();
  // Now the model and the warmed-up sessions are in memory: what is left is for requests.
  const plan: MemoryPlan = planMemory(config.memoryLimit.bytes, process.memoryUsage.rss(), config.maxMessageBytes);
  const messages = new ByteBudget(plan.messageBytes, { name: 'detector message budget', maxWaiters: 1024, maxWaitMs: config.memoryWaitMs });
  const pixels = new ByteBudget(plan.pixelBytes, { name: 'detector pixel budget', maxWaiters: 1024, maxWaitMs: config.memoryWaitMs });
  metrics.watchMemory(plan, { messages, pixels });
  const batcher = new DynamicBatcher<InferenceItem, Detection[]>(
    { maxBatch: config.maxBatch, maxQueueDelayMs: config.maxQueueDelayMs, maxQueue: config.maxQueue, concurrency: config.poolSize },
    (items) => pool.run(items),
    metrics.observer(),
  );
  serving.batcher = batcher;
  metrics.watch({ queuedImages: () => batcher.queued, utilization: () => pool.utilization });
  detector.resolve(
    createDetectService({
      batcher,
      modelInfo: info,
      limits: {
        maxPixels: config.maxImagePixels,
        maxBytes: config.maxImageBytes,
        maxImagesPerRequest: config.maxImagesPerRequest,
        maxTopK: config.maxTopK,
        maxKeepTopK: config.maxKeepTopK,
      },
      pixels,
      memoryWaitMs: config.memoryWaitMs,
      decoder: new Limiter(config.decodeConcurrency),
      ...(config.imagePath === 'fast' ? { decodeSize: (probe) => fastDecodeSize(probe, model.spec.input) } : {}),
      log,
      record: (code, imageCodes) => metrics.request(code, imageCodes),
    }),
  );
  Object.assign(budgets, { messages, pixels, classes: info.labels.length });
  app.health.set('SERVING');
  log.info('detector ready', {
    port,
    metricsPort: app.metricsPort,
    model: info.name,
    modelPath: model.path,
    sha256: info.sha256,
    bnFused: info.bnFused,
    precision: info.precision,
    imagePath: config.imagePath,
    poolSize: config.poolSize,
    intraOpThreads: config.intraOpThreads,
    concurrentRuns: config.concurrentRuns,
    maxBatch: config.maxBatch,
    memory: { limit: config.memoryLimit.bytes, limitFrom: config.memoryLimit.source, ...plan },
  });
}

main().catch((error: unknown) => {
  console.error(`detector: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
