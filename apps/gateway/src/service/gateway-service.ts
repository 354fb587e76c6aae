// The public Gateway service: authenticates, applies the gateway's limits, then hands the batch
// to the dispatcher, with the caller's deadline and cancellation carried to the detectors.
import * as grpc from '@grpc/grpc-js';
import type { DetectRequest, DetectResponse, ModelInfo } from '@edge-ssd/protos';
import { callDeadline, callUnary, grpcError, reply, type Logger } from '@edge-ssd/service-kit';
import type { TokenAuth } from '../security/auth';
import type { DetectorSet } from '../upstream/detector-set';
import type { Dispatcher } from './dispatch';

export interface GatewayServiceDeps {
  dispatcher: Dispatcher;
  detectors: DetectorSet;
  auth: TokenAuth;
  maxImagesPerRequest: number;
  maxConcurrency: number;
  defaultDeadlineMs: number;
  log: Logger;
  record?(code: grpc.status, imageCodes: grpc.status[]): void;
  inFlight?(delta: number): void;
}

export function createGatewayService(deps: GatewayServiceDeps): grpc.UntypedServiceImplementation {
  const { dispatcher, detectors, auth, maxImagesPerRequest, maxConcurrency, defaultDeadlineMs, log } = deps;
  const record = deps.record ?? (() => undefined);
  const inFlightChanged = deps.inFlight ?? (() => undefined);
  let inFlight = 0;

  function deadlineOf(call: grpc.ServerUnaryCall<unknown, unknown>): number {
    const deadline = callDeadline(call);
    return Number.isFinite(deadline) ? deadline : Date.now() + defaultDeadlineMs;
  }

  async function detect(call: grpc.ServerUnaryCall<DetectRequest, DetectResponse>): Promise<DetectResponse> {
    const denied = auth.check(call.metadata);
    if (denied) throw denied;
    const count = call.request.images.length;
    if (count > maxImagesPerRequest) throw grpcError(grpc.status.INVALID_ARGUMENT, `request has ${count} images; the limit is ${maxImagesPerRequest}`);
    if (inFlight >= maxConcurrency) throw grpcError(grpc.status.RESOURCE_EXHAUSTED, `gateway is at its limit of ${maxConcurrency} concurrent requests`);
    inFlight++;
    inFlightChanged(1);
    try {
      return await dispatcher.detect(call.request, { deadline: deadlineOf(call), parent: call });
    } finally {
      inFlight--;
      inFlightChanged(-1);
    }
  }

  return {
    Detect(call: grpc.ServerUnaryCall<DetectRequest, DetectResponse>, callback: grpc.sendUnaryData<DetectResponse>) {
      reply(detect(call), callback, log, (code, response) => record(code, response?.results.map((r) => r.status.code) ?? []));
    },
    GetModelInfo(call: grpc.ServerUnaryCall<unknown, ModelInfo>, callback: grpc.sendUnaryData<ModelInfo>) {
      const denied = auth.check(call.metadata);
      if (denied) return callback(denied);
      const detector = detectors.pick();
      if (!detector) return callback(grpcError(grpc.status.UNAVAILABLE, 'no detector available'));
      reply(callUnary<unknown, ModelInfo>(detector.client, 'GetModelInfo', {}, { deadline: deadlineOf(call), parent: call }), callback, log);
    },
  };
}
