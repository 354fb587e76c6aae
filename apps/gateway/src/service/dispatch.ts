// Sharding and fault tolerance. A client batch is cut into chunks sent to different detectors in
// parallel. A chunk whose detector fails in a way worth retrying (gone, overloaded, reset, too
// slow for one attempt) goes to another detector after a backoff, within the caller's deadline
// and a bounded number of attempts; so do just those images a detector answered with a failure of
// its own (INTERNAL, UNAVAILABLE), while the rest of its answer stands. Each image's answer is
// taken once, so none is lost or answered twice. When the call fails or the caller leaves, the
// chunks still running are cancelled and no new attempt starts.
//
// What reaches the client never names a detector or quotes a library: addresses and upstream
// details go to the log only.
import * as grpc from '@grpc/grpc-js';
import type { DetectRequest, DetectResponse, Image, ImageResult } from '@edge-ssd/protos';
import { grpcError, isServiceError, unary, type Logger } from '@edge-ssd/service-kit';
import type { DetectorSet } from '../upstream/detector-set';

export interface RetryPolicy {
  maxAttempts: number;
  initialBackoffMs: number;
  maxBackoffMs: number;
  /**
   * Shortest time an attempt is given. An attempt gets the larger of this and an equal share of
   * the time left between the attempts left, so a stuck detector costs a share of the deadline,
   * not all of it, while a merely busy one still has time to answer.
   */
  attemptTimeoutMs: number;
}

export interface DispatchObserver {
  attempt?(address: string, code: grpc.status, seconds: number): void;
  retry?(code: grpc.status): void;
}

/**
 * A detector's failure that another detector may not share. INVALID_ARGUMENT is never one; a
 * detector's CANCELLED while the client is still there means that detector gave up (it is
 * draining), not the client.
 */
const RETRYABLE = new Set<grpc.status>([
  grpc.status.UNAVAILABLE,
  grpc.status.RESOURCE_EXHAUSTED,
  grpc.status.INTERNAL,
  grpc.status.UNKNOWN,
  grpc.status.ABORTED,
  grpc.status.CANCELLED,
]);

/** Per-image statuses that blame the detector (its session failed), not the image. */
const RETRYABLE_IMAGE = new Set<grpc.status>([grpc.status.INTERNAL, grpc.status.UNAVAILABLE]);

/**
 * What the client is told when a detector refused the gateway itself (its credentials or rights):
 * a fault of this deployment, never of the client's request or credentials.
 */
const DEPLOYMENT_FAULT = new Set<grpc.status>([grpc.status.UNAUTHENTICATED, grpc.status.PERMISSION_DENIED]);

/** What a client is told when detectors failed: no address, no upstream wording. */
function clientMessage(code: grpc.status): string {
  switch (code) {
    case grpc.status.RESOURCE_EXHAUSTED:
      return 'detectors are overloaded; retry later';
    case grpc.status.DEADLINE_EXCEEDED:
      return 'deadline exceeded';
    case grpc.status.CANCELLED:
      return 'cancelled';
    case grpc.status.UNAVAILABLE:
      return 'no detector available';
    default:
      return 'detectors failed to process the images';
  }
}

/** An upstream error as the client may see it: request errors keep their words, the rest are generic. */
export function forClient(error: grpc.ServiceError): grpc.ServiceError {
  if (error.code === grpc.status.INVALID_ARGUMENT) return error;
  return grpcError(error.code, clientMessage(error.code));
}

export function chunk<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

export function backoffMs(attempt: number, policy: Pick<RetryPolicy, 'initialBackoffMs' | 'maxBackoffMs'>, random = Math.random): number {
  const ceiling = Math.min(policy.maxBackoffMs, policy.initialBackoffMs * 2 ** (attempt - 1));
  // Full jitter: retries of many chunks do not hit the next detector in lockstep.
  return ceiling * (0.5 + random() / 2);
}

export interface DispatchContext {
  deadline: number;
  /**
   * The client's call (a unary call, or the stream a frame came in): its cancellation reaches every
   * detector call. None for a request that did not come over gRPC (HTTP): `signal` ends it then.
   */
  parent?: grpc.ServerUnaryCall<unknown, unknown> | grpc.ServerDuplexStream<unknown, unknown>;
  /** Ends this dispatch alone, as the call's cancellation would (a stream that failed, say). */
  signal?: AbortSignal;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

/** What the dispatcher needs of the detector set: a pick and a way to report one gone. */
export type DetectorChooser = Pick<DetectorSet, 'pick' | 'markUnhealthy'>;

export class Dispatcher {
  constructor(
    private readonly detectors: DetectorChooser,
    private readonly chunkSize: number,
    private readonly policy: RetryPolicy,
    private readonly log: Logger,
    private readonly observer: DispatchObserver = {},
  ) {}

  async detect(request: DetectRequest, context: DispatchContext): Promise<DetectResponse> {
    // An empty batch still goes to a detector once: it validates the options and names the model.
    const chunks = request.images.length > 0 ? chunk(request.images, this.chunkSize) : [[]];
    const stop = new AbortController();
    const onCancelled = (): void => stop.abort();
    context.parent?.once('cancelled', onCancelled);
    if (context.signal?.aborted) stop.abort();
    context.signal?.addEventListener('abort', onCancelled, { once: true });
    try {
      const answers = await Promise.all(
        chunks.map((images) =>
          this.sendChunk(images, request, context, stop.signal).catch((error: unknown) => {
            // One chunk ends the call: the others' work is of no use any more.
            stop.abort();
            throw error;
          }),
        ),
      );
      const model = answers.find((a) => a.model !== '')?.model ?? '';
      return { results: answers.flatMap((a) => a.results), model };
    } finally {
      context.parent?.removeListener('cancelled', onCancelled);
      context.signal?.removeEventListener('abort', onCancelled);
      stop.abort();
    }
  }

  attemptDeadline(callDeadline: number, attemptsLeft: number, now = Date.now()): number {
    const share = (callDeadline - now) / attemptsLeft;
    return Math.min(callDeadline, now + Math.max(this.policy.attemptTimeoutMs, share));
  }

  private async sendChunk(images: Image[], request: DetectRequest, context: DispatchContext, stop: AbortSignal): Promise<DetectResponse> {
    const results: Array<ImageResult | undefined> = new Array(images.length);
    let pending = images.map((_, i) => i);
    let model = '';
    const tried = new Set<string>();
    let lastCode: grpc.status = grpc.status.UNAVAILABLE;
    let answered = false;
    for (let attempt = 1; attempt <= this.policy.maxAttempts && (pending.length > 0 || !answered); attempt++) {
      if (attempt > 1) {
        const wait = backoffMs(attempt - 1, this.policy);
        if (Date.now() + wait >= context.deadline) break;
        this.observer.retry?.(lastCode);
        await sleep(wait, stop);
      }
      if (stop.aborted || context.parent?.cancelled) throw grpcError(grpc.status.CANCELLED, clientMessage(grpc.status.CANCELLED));
      // Prefer a detector this chunk has not failed on; after every one has, start over.
      const detector = this.detectors.pick(tried) ?? this.detectors.pick();
      if (!detector) {
        lastCode = grpc.status.UNAVAILABLE;
        continue;
      }
      tried.add(detector.address);
      const started = process.hrtime.bigint();
      const sent = pending.map((i) => images[i]!);
      try {
        const options = { deadline: this.attemptDeadline(context.deadline, this.policy.maxAttempts - attempt + 1), parent: context.parent };
        const response = await unary<DetectResponse>((done) => detector.client.Detect({ images: sent, options: request.options }, new grpc.Metadata(), options, done), stop);
        this.observer.attempt?.(detector.address, grpc.status.OK, seconds(started));
        if (response.results.length !== sent.length) {
          this.log.error('detector answered the wrong number of results', { detector: detector.address, sent: sent.length, got: response.results.length });
          throw grpcError(grpc.status.INTERNAL, 'wrong number of results');
        }
        answered = true;
        model = response.model || model;
        const failed: number[] = [];
        response.results.forEach((result, k) => {
          const i = pending[k]!;
          // An answer without a status is the detector's fault too.
          const code = result.status?.code ?? grpc.status.UNKNOWN;
          if ((RETRYABLE_IMAGE.has(code) || result.status === null) && attempt < this.policy.maxAttempts) {
            failed.push(i);
            lastCode = code;
          } else {
            // Out of attempts: an answer without a status still gets one.
            results[i] = result.status === null ? { ...result, status: { code: grpc.status.INTERNAL, message: clientMessage(grpc.status.INTERNAL) } } : result;
          }
        });
        if (failed.length > 0) this.log.warn('detector failed images; retrying them elsewhere', { detector: detector.address, images: failed.length });
        pending = failed;
      } catch (error) {
        const e = asServiceError(error);
        this.observer.attempt?.(detector.address, e.code, seconds(started));
        if (stop.aborted || context.parent?.cancelled) throw grpcError(grpc.status.CANCELLED, clientMessage(grpc.status.CANCELLED));
        // An attempt that ran out of its own time (not the call's) met a stuck or slow detector.
        const attemptTimedOut = e.code === grpc.status.DEADLINE_EXCEEDED && Date.now() < context.deadline;
        // The request itself is wrong, or the client's time is up: no detector will do better.
        if (e.code === grpc.status.INVALID_ARGUMENT || (e.code === grpc.status.DEADLINE_EXCEEDED && !attemptTimedOut)) throw forClient(e);
        this.log.warn('detector call failed', { detector: detector.address, code: grpc.status[e.code], details: e.details, attempt });
        lastCode = attemptTimedOut ? grpc.status.DEADLINE_EXCEEDED : e.code;
        if (!attemptTimedOut && !RETRYABLE.has(e.code)) break;
        if (e.code === grpc.status.UNAVAILABLE) this.detectors.markUnhealthy(detector.address);
      }
    }
    const code = finalCode(lastCode);
    if (!answered && images.length === 0) throw grpcError(code, clientMessage(code));
    if (pending.length > 0 && Date.now() >= context.deadline) throw grpcError(grpc.status.DEADLINE_EXCEEDED, clientMessage(grpc.status.DEADLINE_EXCEEDED));
    const failure = { code, message: `${clientMessage(code)} (every attempt failed)` };
    for (const i of pending) results[i] = { id: images[i]!.id, status: failure, detections: [], width: 0, height: 0 };
    return { model, results: results as ImageResult[] };
  }
}

/**
 * The code a client gets for images no attempt could serve: a detector that timed out or gave up
 * was unavailable; a detector that refused the gateway's credentials is this deployment's fault.
 */
function finalCode(last: grpc.status): grpc.status {
  if (last === grpc.status.DEADLINE_EXCEEDED || last === grpc.status.CANCELLED) return grpc.status.UNAVAILABLE;
  return DEPLOYMENT_FAULT.has(last) ? grpc.status.INTERNAL : last;
}

function seconds(started: bigint): number {
  return Number(process.hrtime.bigint() - started) / 1e9;
}

function asServiceError(error: unknown): grpc.ServiceError {
  if (isServiceError(error)) return error;
  return grpcError(grpc.status.INTERNAL, error instanceof Error ? error.message : String(error));
}
