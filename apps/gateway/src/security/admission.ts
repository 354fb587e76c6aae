// What a call must pass before the gateway reads its body: credentials (Detect, GetModelInfo),
// the concurrency limit (Detect) and a memory reservation (every method, health and reflection
// included: they need no credentials, so their bodies are bounded by a budget of their own).
// Requests whose bytes carry more images or class ids than allowed are refused before decoding.
import * as grpc from '@grpc/grpc-js';
import { detectRequestFields, detectStreamRequestFields, MalformedMessageError, scanDetectRequest, type SsdPackage } from '@edge-ssd/protos';
import { allGates, BudgetError, callDeadline, memoryGate, type ByteBudget, type CalledMethod, type CallGate, type RequestGuard } from '@edge-ssd/service-kit';
import type { TokenAuth } from './auth';

export interface AdmissionDeps {
  auth: TokenAuth;
  maxConcurrency: number;
  maxMessageBytes: number;
  maxImagesPerRequest: number;
  maxClassIds: number;
  memoryWaitMs: number;
  requests: ByteBudget;
  operational: ByteBudget;
  requestFactor: number;
  /** Told when a Detect call starts (+1) and ends (-1). */
  inFlight?(delta: number): void;
}

const DETECT_STREAM = '/ssd.v1.Gateway/DetectStream';

/** A request admitted by admitRequest: shrink its reservation once its body is read; end it once. */
export interface AdmittedRequest {
  shrinkTo(bodyBytes: number): void;
  end(): void;
}

type Refusal = Exclude<ReturnType<RequestGuard>, undefined>;

const PUBLIC = new Set(['/ssd.v1.Gateway/Detect', '/ssd.v1.Gateway/GetModelInfo', DETECT_STREAM]);

export class Admission {
  private detecting = 0;

  constructor(private readonly deps: AdmissionDeps) {}

  /** For gateInterceptor. */
  gateFor(method: CalledMethod, call: grpc.ServerInterceptingCallInterface): CallGate {
    const { deps } = this;
    const deadline = callDeadline(call);
    const methodPath = method.path;
    if (!PUBLIC.has(methodPath)) {
      // No waiting here: probes and grpcurl get an answer at once. A stream (reflection) keeps its
      // reservation for its life, since its later messages are read into it too.
      return memoryGate(deps.operational, { worstCaseBytes: deps.maxMessageBytes, factor: 1, holdForCall: method.requestStream, maxWaitMs: 0, deadline });
    }
    const gates: CallGate[] = [{ beforeRead: (metadata) => deps.auth.check(metadata) }];
    if (methodPath === '/ssd.v1.Gateway/Detect' || methodPath === DETECT_STREAM) gates.push(this.concurrencyGate());
    if (methodPath === DETECT_STREAM) {
      // A stream holds one slot and, for its life, room for the message being read; each frame
      // then holds its own share until it is answered (detect-stream.ts releases it).
      gates.push(memoryGate(deps.requests, { worstCaseBytes: deps.maxMessageBytes, factor: deps.requestFactor, holdForCall: true, perMessage: true, maxWaitMs: deps.memoryWaitMs, deadline }));
    } else {
      gates.push(memoryGate(deps.requests, { worstCaseBytes: deps.maxMessageBytes * deps.requestFactor, factor: deps.requestFactor, maxWaitMs: deps.memoryWaitMs, deadline }));
    }
    return allGates(...gates);
  }

  /** Refuses a Detect request whose bytes carry too many images or class ids, before decoding. */
  detectGuard(ssd: SsdPackage): RequestGuard {
    return this.guard(detectRequestFields(ssd.definition));
  }

  /** The same for each DetectStream message (one frame, the stream's options). */
  detectStreamGuard(ssd: SsdPackage): RequestGuard {
    return this.guard(detectStreamRequestFields(ssd.definition));
  }

  private guard(fields: ReturnType<typeof detectRequestFields>): RequestGuard {
    const { maxImagesPerRequest, maxClassIds } = this.deps;
    return (bytes) => {
      try {
        const counts = scanDetectRequest(bytes, fields);
        if (counts.images > maxImagesPerRequest) return { code: grpc.status.INVALID_ARGUMENT, details: `request has ${counts.images} images; the limit is ${maxImagesPerRequest}` };
        if (counts.classIds > maxClassIds) return { code: grpc.status.INVALID_ARGUMENT, details: `class_ids has ${counts.classIds} entries; the limit is ${maxClassIds}` };
        return undefined;
      } catch (error) {
        if (error instanceof MalformedMessageError) return { code: grpc.status.INVALID_ARGUMENT, details: `malformed request: ${error.message}` };
        throw error;
      }
    };
  }

  /**
   * Admits a Detect request that does not arrive over gRPC (the HTTP API) through the same gates:
   * the concurrency limit Detect calls count against, then `bodyBytes` x the request factor of the
   * request budget (the largest body while its size is unknown), waited for as a Detect call
   * waits. Credentials are the caller's to check: an HTTP client may send its key in the body.
   */
  async admitRequest(bodyBytes: number, deadline: number, signal?: AbortSignal): Promise<AdmittedRequest | Refusal> {
    const { deps } = this;
    const concurrency = this.concurrencyGate();
    const refused = await concurrency.beforeRead(new grpc.Metadata());
    if (refused) return refused;
    try {
      const bytes = Math.min(bodyBytes * deps.requestFactor, deps.requests.capacity);
      const reservation = await deps.requests.acquire(bytes, { deadline, maxWaitMs: deps.memoryWaitMs, signal });
      return {
        shrinkTo: (read) => reservation.shrinkTo(read * deps.requestFactor),
        end: () => {
          reservation.release();
          concurrency.onEnd?.();
        },
      };
    } catch (error) {
      concurrency.onEnd?.();
      if (!(error instanceof BudgetError)) throw error;
      return { code: error.reason === 'deadline' ? grpc.status.DEADLINE_EXCEEDED : error.reason === 'cancelled' ? grpc.status.CANCELLED : grpc.status.RESOURCE_EXHAUSTED, details: error.message };
    }
  }

  private concurrencyGate(): CallGate {
    let admitted = false;
    return {
      beforeRead: () => {
        if (this.detecting >= this.deps.maxConcurrency) {
          return { code: grpc.status.RESOURCE_EXHAUSTED, details: `gateway is at its limit of ${this.deps.maxConcurrency} concurrent requests` };
        }
        admitted = true;
        this.detecting++;
        this.deps.inFlight?.(1);
        return undefined;
      },
      onEnd: () => {
        if (!admitted) return;
        admitted = false;
        this.detecting--;
        this.deps.inFlight?.(-1);
      },
    };
  }
}
