// The public Gateway service. Credentials, concurrency and memory were checked before the request
// was read (admission.ts); here the batch is handed to the dispatcher, with the caller's deadline
// and cancellation carried to the detectors.
import * as grpc from '@grpc/grpc-js';
import type { DetectRequest, DetectResponse, ModelInfo, GatewayHandlers, GetModelInfoRequest } from '@edge-ssd/protos';
import { callDeadline, COLLECT_AFTER_BYTES, collectYoung, grpcError, isServiceError, reply, requestSize, unary, type Logger } from '@edge-ssd/service-kit';
import type { DetectorSet } from '../upstream/detector-set';
import { forClient, type Dispatcher } from './dispatch';

export interface GatewayServiceDeps {
  dispatcher: Dispatcher;
  detectors: DetectorSet;
  maxImagesPerRequest: number;
  defaultDeadlineMs: number;
  log: Logger;
  record?(code: grpc.status, imageCodes: grpc.status[]): void;
  /** Gateway.DetectStream (detect-stream.ts). */
  detectStream: GatewayHandlers['DetectStream'];
}

export function createGatewayService(deps: GatewayServiceDeps): GatewayHandlers {
  const { dispatcher, detectors, maxImagesPerRequest, defaultDeadlineMs, log } = deps;
  const record = deps.record ?? (() => undefined);

  function deadlineOf(call: grpc.ServerUnaryCall<unknown, unknown>): number {
    const deadline = callDeadline(call);
    return Number.isFinite(deadline) ? deadline : Date.now() + defaultDeadlineMs;
  }

  async function detect(call: grpc.ServerUnaryCall<DetectRequest, DetectResponse>): Promise<DetectResponse> {
    const count = call.request.images.length;
    if (count > maxImagesPerRequest) throw grpcError(grpc.status.INVALID_ARGUMENT, `request has ${count} images; the limit is ${maxImagesPerRequest}`);
    const dispatched = dispatcher.detect(call.request, { deadline: deadlineOf(call), parent: call });
    // The frames the request arrived in, and the chunk messages just serialized from it, are
    // garbage once sent; this thread's small heap would keep them for long (see collect.ts).
    if ((requestSize(call.request) ?? 0) >= COLLECT_AFTER_BYTES) setImmediate(collectYoung);
    return dispatched;
  }

  async function modelInfo(call: grpc.ServerUnaryCall<GetModelInfoRequest, ModelInfo>): Promise<ModelInfo> {
    const detector = detectors.pick();
    if (!detector) throw grpcError(grpc.status.UNAVAILABLE, 'no detector available');
    try {
      return await unary<ModelInfo>((done) => detector.client.GetModelInfo({}, new grpc.Metadata(), { deadline: deadlineOf(call), parent: call }, done));
    } catch (error) {
      if (!isServiceError(error)) throw error;
      log.warn('GetModelInfo failed', { detector: detector.address, code: grpc.status[error.code], details: error.details });
      throw forClient(error);
    }
  }

  return {
    Detect(call: grpc.ServerUnaryCall<DetectRequest, DetectResponse>, callback: grpc.sendUnaryData<DetectResponse>) {
      reply(detect(call), callback, log, (code, response) => record(code, response?.results.map((r) => r.status?.code ?? grpc.status.UNKNOWN) ?? []));
    },
    GetModelInfo(call, callback) {
      reply(modelInfo(call), callback, log);
    },
    DetectStream: deps.detectStream,
  };
}
