// The detectors an HTTP route sends its image to, and what model they serve (asked with
// GetModelInfo, remembered briefly: a rollout may change it).
import * as grpc from '@grpc/grpc-js';
import type { DetectRequest, DetectResponse, ModelInfo } from '@edge-ssd/protos';
import { grpcError, unary } from '@edge-ssd/service-kit';
import type { DetectorSet } from '../upstream/detector-set';
import type { DispatchContext, Dispatcher } from '../service/dispatch';

const MODEL_INFO_TTL_MS = 10_000;

export class DetectorPool {
  private known?: { info: ModelInfo; until: number };

  constructor(
    private readonly dispatcher: Pick<Dispatcher, 'detect'>,
    private readonly detectors: Pick<DetectorSet, 'pick'>,
  ) {}

  detect(request: DetectRequest, context: DispatchContext): Promise<DetectResponse> {
    return this.dispatcher.detect(request, context);
  }

  /** What one of the detectors serves; rejects with a gRPC error (UNAVAILABLE when none is there). */
  async modelInfo(deadline: number, signal?: AbortSignal): Promise<ModelInfo> {
    if (this.known && Date.now() < this.known.until) return this.known.info;
    const detector = this.detectors.pick();
    if (!detector) throw grpcError(grpc.status.UNAVAILABLE, 'no detector available');
    const info = await unary<ModelInfo>((done) => detector.client.GetModelInfo({}, new grpc.Metadata(), { deadline }, done), signal);
    this.known = { info, until: Date.now() + MODEL_INFO_TTL_MS };
    return info;
  }
}
