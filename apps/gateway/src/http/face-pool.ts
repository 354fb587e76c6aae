// A second detector pool for DeepStack's /v1/vision/face (GATEWAY_FACE_DETECTOR_TARGET): detectors
// serving a face model, next to the gateway's own (say VOC objects) pool. It is resolved and
// health-checked as the main pool is, and its images go through a dispatcher of their own with the
// same chunking, retries and deadlines. The gateway's readiness still follows its main pool only.
import type * as grpc from '@grpc/grpc-js';
import type { Logger } from '@edge-ssd/service-kit';
import { Dispatcher, type DispatchObserver, type RetryPolicy } from '../service/dispatch';
import { DetectorSet } from '../upstream/detector-set';
import type { DetectorTarget } from '../upstream/detector-target';
import { resolveTarget } from '../upstream/resolve';
import { DetectorPool } from './pool';

export interface FacePoolOptions {
  target: DetectorTarget;
  credentials: grpc.ChannelCredentials;
  channelOptions: grpc.ChannelOptions;
  healthIntervalMs: number;
  resolveIntervalMs: number;
  chunkSize: number;
  retry: RetryPolicy;
  log: Logger;
  observer?: DispatchObserver;
  onRemoved?(address: string): void;
}

export async function startFacePool(options: FacePoolOptions): Promise<{ pool: DetectorPool; close(): void }> {
  const { log } = options;
  const set = new DetectorSet({ credentials: options.credentials, channelOptions: options.channelOptions, healthIntervalMs: options.healthIntervalMs, log, onRemoved: options.onRemoved });
  // A resolver failure keeps the face detectors already known.
  const resolve = (): Promise<void> =>
    resolveTarget(options.target).then(
      (addresses) => set.update(addresses),
      (error: unknown) => log.warn('cannot resolve GATEWAY_FACE_DETECTOR_TARGET', { err: error }),
    );
  await resolve();
  const timer = setInterval(() => void resolve(), options.resolveIntervalMs);
  timer.unref();
  const dispatcher = new Dispatcher(set, options.chunkSize, options.retry, log, options.observer);
  return {
    pool: new DetectorPool(dispatcher, set),
    close: () => {
      clearInterval(timer);
      set.close();
    },
  };
}
