// The public Gateway service: checks a batch against the gateway's limits and forwards it to
// a detector with the caller's deadline and cancellation attached.
import * as grpc from '@grpc/grpc-js';
import type { DetectRequest, DetectResponse, ModelInfo } from '@edge-ssd/protos';
import { callUnary, grpcError, type Logger } from '@edge-ssd/service-kit';
import type { DetectorClients } from '../upstream/detector-clients';

export interface GatewayServiceDeps {
  detectors: DetectorClients;
  maxImagesPerRequest: number;
  defaultDeadlineMs: number;
  log: Logger;
}

export function createGatewayService(deps: GatewayServiceDeps): grpc.UntypedServiceImplementation {
  const { detectors, maxImagesPerRequest, defaultDeadlineMs, log } = deps;

  function forward<Req, Res>(method: string, call: grpc.ServerUnaryCall<Req, Res>, callback: grpc.sendUnaryData<Res>): void {
    const clientDeadline = call.getDeadline();
    const deadline = clientDeadline === Infinity ? Date.now() + defaultDeadlineMs : clientDeadline;
    callUnary<Req, Res>(detectors.pick(), method, call.request, { parent: call, deadline }).then(
      (response) => callback(null, response),
      (error: grpc.ServiceError) => {
        if (error.code !== grpc.status.CANCELLED) log.warn('detector call failed', { method, code: error.code, details: error.details });
        callback(error);
      },
    );
  }

  return {
    Detect(call: grpc.ServerUnaryCall<DetectRequest, DetectResponse>, callback: grpc.sendUnaryData<DetectResponse>) {
      const count = call.request.images.length;
      if (count > maxImagesPerRequest) {
        callback(grpcError(grpc.status.INVALID_ARGUMENT, `request has ${count} images; the limit is ${maxImagesPerRequest}`));
        return;
      }
      forward('Detect', call, callback);
    },
    GetModelInfo(call: grpc.ServerUnaryCall<unknown, ModelInfo>, callback: grpc.sendUnaryData<ModelInfo>) {
      forward('GetModelInfo', call, callback);
    },
  };
}
