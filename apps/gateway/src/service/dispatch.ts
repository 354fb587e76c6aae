// Sharding and fault tolerance. A client batch is cut into chunks sent to different detectors in
// parallel; a chunk whose detector fails in a way worth retrying (gone, overloaded, reset) goes
// to another detector after a backoff, within the caller's deadline and a bounded number of
// attempts. Each chunk's answer is taken once, from the attempt that succeeded, so no image is
// lost or answered twice; only when every attempt failed do its images carry that error.
import * as grpc from '@grpc/grpc-js';
import type { DetectRequest, DetectResponse, Image, ImageResult } from '@edge-ssd/protos';
import { callUnary, grpcError, isServiceError } from '@edge-ssd/service-kit';
import type { DetectorSet } from '../upstream/detector-set';

export interface RetryPolicy {
  maxAttempts: number;
  initialBackoffMs: number;
  maxBackoffMs: number;
}

export interface DispatchObserver {
  attempt?(address: string, code: grpc.status, seconds: number): void;
  retry?(code: grpc.status): void;
}

/** A detector's failure that another detector may not share. INVALID_ARGUMENT is never one. */
export const RETRYABLE = new Set<grpc.status>([
  grpc.status.UNAVAILABLE,
  grpc.status.RESOURCE_EXHAUSTED,
  grpc.status.INTERNAL,
  grpc.status.UNKNOWN,
  grpc.status.ABORTED,
]);

/** Codes that end the whole call: the request itself is wrong, or the caller is gone. */
const FATAL = new Set<grpc.status>([grpc.status.INVALID_ARGUMENT, grpc.status.DEADLINE_EXCEEDED, grpc.status.CANCELLED, grpc.status.UNAUTHENTICATED]);

export function chunk<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

export function backoffMs(attempt: number, policy: RetryPolicy, random = Math.random): number {
  const ceiling = Math.min(policy.maxBackoffMs, policy.initialBackoffMs * 2 ** (attempt - 1));
  // Full jitter: retries of many chunks do not hit the next detector in lockstep.
  return ceiling * (0.5 + random() / 2);
}

export interface DispatchContext {
  deadline: number;
  parent: grpc.ServerUnaryCall<unknown, unknown>;
}

export class Dispatcher {
  constructor(
    private readonly detectors: DetectorSet,
    private readonly chunkSize: number,
    private readonly policy: RetryPolicy,
    private readonly observer: DispatchObserver = {},
  ) {}

  async detect(request: DetectRequest, context: DispatchContext): Promise<DetectResponse> {
    // An empty batch still goes to a detector once: it validates the options and names the model.
    const chunks = request.images.length > 0 ? chunk(request.images, this.chunkSize) : [[]];
    const answers = await Promise.all(chunks.map((images) => this.sendChunk(images, request, context)));
    const model = answers.find((a) => a.model !== '')?.model ?? '';
    return { results: answers.flatMap((a) => a.results), model };
  }

  private async sendChunk(images: Image[], request: DetectRequest, context: DispatchContext): Promise<DetectResponse> {
    const tried = new Set<string>();
    let last: grpc.ServiceError | undefined;
    for (let attempt = 1; attempt <= this.policy.maxAttempts; attempt++) {
      if (attempt > 1) {
        const wait = backoffMs(attempt - 1, this.policy);
        if (Date.now() + wait >= context.deadline) break;
        this.observer.retry?.(last?.code ?? grpc.status.UNAVAILABLE);
        await new Promise((resolve) => setTimeout(resolve, wait));
      }
      // Prefer a detector this chunk has not failed on; after every one has, start over.
      const detector = this.detectors.pick(tried) ?? this.detectors.pick();
      if (!detector) {
        last = grpcError(grpc.status.UNAVAILABLE, 'no detector available');
        continue;
      }
      tried.add(detector.address);
      const started = process.hrtime.bigint();
      try {
        const response = await callUnary<DetectRequest, DetectResponse>(
          detector.client,
          'Detect',
          { images, options: request.options },
          { deadline: context.deadline, parent: context.parent },
        );
        this.observer.attempt?.(detector.address, grpc.status.OK, seconds(started));
        if (response.results.length !== images.length) {
          throw grpcError(grpc.status.INTERNAL, `detector ${detector.address} answered ${response.results.length} results for ${images.length} images`);
        }
        return response;
      } catch (error) {
        const e = asServiceError(error);
        this.observer.attempt?.(detector.address, e.code, seconds(started));
        if (FATAL.has(e.code)) throw e;
        last = e;
        if (!RETRYABLE.has(e.code)) break;
        if (e.code === grpc.status.UNAVAILABLE) this.detectors.markUnhealthy(detector.address);
      }
    }
    if (Date.now() >= context.deadline) throw grpcError(grpc.status.DEADLINE_EXCEEDED, 'deadline exceeded');
    const code = last?.code ?? grpc.status.UNAVAILABLE;
    const message = `every attempt failed; last: ${last?.details ?? 'no detector available'}`;
    return {
      model: '',
      results: images.map((image): ImageResult => ({ id: image.id, status: { code, message }, detections: [], width: 0, height: 0 })),
    };
  }
}

function seconds(started: bigint): number {
  return Number(process.hrtime.bigint() - started) / 1e9;
}

function asServiceError(error: unknown): grpc.ServiceError {
  if (isServiceError(error)) return error;
  return grpcError(grpc.status.INTERNAL, error instanceof Error ? error.message : String(error));
}
