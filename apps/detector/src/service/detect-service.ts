// The Detector gRPC service: validates a batch, decodes its images, queues them for the
// dynamic batcher and answers one result per image, in request order. A bad image fails alone.
import * as grpc from '@grpc/grpc-js';
import type { DetectRequest, DetectResponse, Detection as WireDetection, ImageResult, ModelInfo } from '@edge-ssd/protos';
import type { Detection, DetectOptions } from '@edge-ssd/ssd-core';
import { callDeadline, grpcError, reply, type Logger } from '@edge-ssd/service-kit';
import { JobDroppedError, QueueFullError, type DynamicBatcher, type JobContext } from '../batching/dynamic-batcher';
import type { InferenceItem } from '../worker/protocol';
import { decodeImage, ImageError, type DecodeLimits } from './image-decode';
import { OptionsError, toDetectOptions } from './detect-options';

export interface DetectServiceDeps {
  batcher: DynamicBatcher<InferenceItem, Detection[]>;
  modelInfo: ModelInfo;
  limits: DecodeLimits & { maxImagesPerRequest: number };
  log: Logger;
  /** Told the outcome of every Detect call: its status and each image's. */
  record?(code: grpc.status, imageCodes: grpc.status[]): void;
}

/** What happened to one image: its detections or why it has none. */
type Outcome = { ok: true; detections: Detection[]; width: number; height: number } | { ok: false; code: grpc.status; message: string };

export function createDetectService(deps: DetectServiceDeps): grpc.UntypedServiceImplementation {
  const { batcher, modelInfo, limits, log } = deps;
  const record = deps.record ?? (() => undefined);

  function parseOptions(request: DetectRequest): DetectOptions {
    if (request.images.length > limits.maxImagesPerRequest) {
      throw grpcError(grpc.status.INVALID_ARGUMENT, `request has ${request.images.length} images; the limit is ${limits.maxImagesPerRequest}`);
    }
    try {
      return toDetectOptions(request.options, modelInfo.labels.length);
    } catch (error) {
      if (error instanceof OptionsError) throw grpcError(grpc.status.INVALID_ARGUMENT, error.message);
      throw error;
    }
  }

  async function detect(request: DetectRequest, context: JobContext): Promise<DetectResponse> {
    const options = parseOptions(request);
    const outcomes: Outcome[] = new Array(request.images.length);
    const items: InferenceItem[] = [];
    const itemIndex: number[] = [];
    await Promise.all(
      request.images.map(async (image, i) => {
        try {
          const pixels = await decodeImage(image, limits);
          // Sizes are kept here: the pixel buffer itself moves to a worker.
          outcomes[i] = { ok: true, detections: [], width: pixels.width, height: pixels.height };
          items.push({ image: pixels, options });
          itemIndex.push(i);
        } catch (error) {
          if (!(error instanceof ImageError)) throw error;
          outcomes[i] = { ok: false, code: error.code, message: error.message };
        }
      }),
    );
    if (context.isCancelled()) throw grpcError(grpc.status.CANCELLED, 'cancelled by the client');
    let pending: Promise<Detection[]>[];
    try {
      pending = batcher.submit(items, context);
    } catch (error) {
      if (error instanceof QueueFullError) throw grpcError(grpc.status.RESOURCE_EXHAUSTED, error.message);
      if (error instanceof JobDroppedError) throw grpcError(grpc.status.UNAVAILABLE, error.message);
      throw error;
    }
    const settled = await Promise.allSettled(pending);
    settled.forEach((result, k) => {
      const i = itemIndex[k]!;
      const outcome = outcomes[i]!;
      if (result.status === 'fulfilled' && outcome.ok) {
        outcome.detections = result.value;
        return;
      }
      const reason: unknown = result.status === 'rejected' ? result.reason : undefined;
      if (reason instanceof JobDroppedError) {
        // The caller is gone or out of time: no answer will reach it anyway.
        throw grpcError(reason.reason === 'deadline' ? grpc.status.DEADLINE_EXCEEDED : grpc.status.CANCELLED, reason.message);
      }
      log.error('inference failed', { err: reason });
      outcomes[i] = { ok: false, code: grpc.status.INTERNAL, message: 'inference failed' };
    });
    return { results: request.images.map((image, i) => toResult(image.id, outcomes[i]!)), model: modelInfo.name };
  }

  return {
    Detect(call: grpc.ServerUnaryCall<DetectRequest, DetectResponse>, callback: grpc.sendUnaryData<DetectResponse>) {
      const context: JobContext = { deadline: callDeadline(call), isCancelled: () => call.cancelled };
      reply(detect(call.request, context), callback, log, (code, response) => record(code, response?.results.map((r) => r.status.code) ?? []));
    },
    GetModelInfo(_call: grpc.ServerUnaryCall<unknown, ModelInfo>, callback: grpc.sendUnaryData<ModelInfo>) {
      callback(null, modelInfo);
    },
  };
}

function toResult(id: string, outcome: Outcome): ImageResult {
  if (!outcome.ok) return { id, status: { code: outcome.code, message: outcome.message }, detections: [], width: 0, height: 0 };
  const { width, height } = outcome;
  const detections = outcome.detections.map(
    (d): WireDetection => ({
      classId: d.classId,
      label: d.label,
      score: d.score,
      box: { xmin: d.xmin, ymin: d.ymin, xmax: d.xmax, ymax: d.ymax },
      pixelBox: { xmin: d.xmin * width, ymin: d.ymin * height, xmax: d.xmax * width, ymax: d.ymax * height },
    }),
  );
  return { id, status: { code: grpc.status.OK, message: '' }, detections, width, height };
}
