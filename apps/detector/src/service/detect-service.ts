// The Detector gRPC service: validates a batch, decodes its images, runs them on the worker
// pool and answers one result per image, in request order. A bad image fails alone.
import * as grpc from '@grpc/grpc-js';
import type { DetectRequest, DetectResponse, Detection as WireDetection, ImageResult, ModelInfo } from '@edge-ssd/protos';
import type { Detection } from '@edge-ssd/ssd-core';
import { grpcError, type Logger } from '@edge-ssd/service-kit';
import { QueueFullError, type InferencePool } from '../worker/pool';
import type { PixelImage } from '../worker/preprocess';
import { decodeImage, ImageError, type DecodeLimits } from './image-decode';
import { OptionsError, toDetectOptions } from './detect-options';

export interface DetectServiceDeps {
  pool: InferencePool;
  modelInfo: ModelInfo;
  limits: DecodeLimits & { maxImagesPerRequest: number };
  log: Logger;
}

type Decoded = { ok: true; image: PixelImage } | { ok: false; error: ImageError };

export function createDetectService(deps: DetectServiceDeps): grpc.UntypedServiceImplementation {
  const { pool, modelInfo, limits, log } = deps;
  const labels = modelInfo.labels;

  async function detect(request: DetectRequest): Promise<DetectResponse> {
    if (request.images.length > limits.maxImagesPerRequest) {
      throw grpcError(grpc.status.INVALID_ARGUMENT, `request has ${request.images.length} images; the limit is ${limits.maxImagesPerRequest}`);
    }
    let options;
    try {
      options = toDetectOptions(request.options, labels.length);
    } catch (error) {
      if (error instanceof OptionsError) throw grpcError(grpc.status.INVALID_ARGUMENT, error.message);
      throw error;
    }
    const decoded: Decoded[] = await Promise.all(
      request.images.map((image) =>
        decodeImage(image, limits).then(
          (pixels): Decoded => ({ ok: true, image: pixels }),
          (error: unknown): Decoded => {
            if (error instanceof ImageError) return { ok: false, error };
            throw error;
          },
        ),
      ),
    );
    // Sizes are read before the pixel buffers are transferred away to the workers.
    const sizes = decoded.map((d) => (d.ok ? { width: d.image.width, height: d.image.height } : { width: 0, height: 0 }));
    const runnable = decoded.flatMap((d) => (d.ok ? [d.image] : []));
    let detections: Detection[][];
    try {
      detections = await pool.detect(runnable, options);
    } catch (error) {
      if (error instanceof QueueFullError) throw grpcError(grpc.status.RESOURCE_EXHAUSTED, error.message);
      throw error;
    }
    let next = 0;
    const results = request.images.map((image, i): ImageResult => {
      const d = decoded[i]!;
      const { width, height } = sizes[i]!;
      if (!d.ok) return { id: image.id, status: { code: d.error.code, message: d.error.message }, detections: [], width, height };
      return { id: image.id, status: { code: grpc.status.OK, message: '' }, detections: toWire(detections[next++]!, width, height), width, height };
    });
    return { results, model: modelInfo.name };
  }

  function toWire(list: Detection[], width: number, height: number): WireDetection[] {
    return list.map((d) => ({
      classId: d.classId,
      label: d.label,
      score: d.score,
      box: { xmin: d.xmin, ymin: d.ymin, xmax: d.xmax, ymax: d.ymax },
      pixelBox: { xmin: d.xmin * width, ymin: d.ymin * height, xmax: d.xmax * width, ymax: d.ymax * height },
    }));
  }

  return {
    Detect(call: grpc.ServerUnaryCall<DetectRequest, DetectResponse>, callback: grpc.sendUnaryData<DetectResponse>) {
      const started = process.hrtime.bigint();
      detect(call.request).then(
        (response) => {
          log.debug('detect', { images: call.request.images.length, ms: Number(process.hrtime.bigint() - started) / 1e6 });
          callback(null, response);
        },
        (error: unknown) => {
          const serviceError = isServiceError(error) ? error : grpcError(grpc.status.INTERNAL, 'internal error');
          if (!isServiceError(error)) log.error('detect failed', { err: error });
          callback(serviceError);
        },
      );
    },
    GetModelInfo(_call: grpc.ServerUnaryCall<unknown, ModelInfo>, callback: grpc.sendUnaryData<ModelInfo>) {
      callback(null, modelInfo);
    },
  };
}

function isServiceError(error: unknown): error is grpc.ServiceError {
  return error instanceof Error && typeof (error as Partial<grpc.ServiceError>).code === 'number';
}
