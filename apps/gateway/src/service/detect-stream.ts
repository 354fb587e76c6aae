// Gateway.DetectStream: frames of a camera in, one answer per frame out, in sequence order.
// Each frame goes to the detectors as an ordinary one-image Detect call through the dispatcher
// (retries on another detector, deadlines, cancellation), so the detectors' dynamic batching
// merges the frames of every stream with unary traffic. Which frames start, wait or are dropped
// is decided by FrameWindow (detect-stream-window.ts); this module is its I/O.
//
// The call was admitted like a unary Detect (token, concurrency slot held for the stream's life,
// memory): each frame holds its share of the request budget from when it is read until it is
// answered (memoryGate's perMessage), and the stream is not read while a frame waits for memory.
import * as grpc from '@grpc/grpc-js';
import type { DetectOptions, DetectStreamRequest, DetectStreamResponseInit, Image, ImageResult } from '@edge-ssd/protos';
import { callDeadline, COLLECT_AFTER_BYTES, collectYoung, grpcError, isServiceError, releaseRequest, requestSize, type Logger } from '@edge-ssd/service-kit';
import { forClient, type Dispatcher } from './dispatch';
import { FrameWindow, SequenceError, type DropCause, type FrameAnswer, type StreamPolicy, type WindowFrame } from './detect-stream-window';

type Call = grpc.ServerDuplexStream<DetectStreamRequest, DetectStreamResponseInit>;

/** What a frame's answer was, for metrics: served (status OK), failed (its own status), dropped. */
type FrameOutcomeName = 'served' | 'failed' | 'dropped';

export interface StreamObserver {
  opened(): void;
  closed(): void;
  /** `reason`: '' when served, the status name when failed, the cause when dropped. */
  frame(outcome: FrameOutcomeName, reason: string, seconds: number): void;
}

export interface DetectStreamDeps {
  dispatcher: Dispatcher;
  /** Frames in flight per stream when the client asks for none, and the most it may ask for. */
  maxInFlight: number;
  /** Deadline of each frame's detector call when the stream has none. */
  defaultDeadlineMs: number;
  log: Logger;
  observer?: StreamObserver;
  now?(): number;
}

interface Payload {
  image: Image;
  message: DetectStreamRequest;
}

interface Served {
  result: ImageResult;
  model: string;
}

const DROPPED: Record<DropCause, { code: grpc.status; message: string; reason: 'DROP_REASON_SUPERSEDED' | 'DROP_REASON_STALE' }> = {
  superseded: { code: grpc.status.ABORTED, message: 'dropped: a newer frame arrived while it waited', reason: 'DROP_REASON_SUPERSEDED' },
  stale: { code: grpc.status.DEADLINE_EXCEEDED, message: 'dropped: it could no longer be answered within its max_latency_ms', reason: 'DROP_REASON_STALE' },
};

export interface DetectStreamService {
  handler: grpc.handleBidiStreamingCall<DetectStreamRequest, DetectStreamResponseInit>;
  /** The gateway is draining: every stream stops reading, answers what it has read, and ends UNAVAILABLE. */
  drain(): void;
  /** Streams open now. */
  readonly active: number;
}

export function createDetectStream(deps: DetectStreamDeps): DetectStreamService {
  const sessions = new Set<StreamSession>();
  let draining = false;
  return {
    handler(call) {
      const session = new StreamSession(call, deps, () => sessions.delete(session));
      sessions.add(session);
      if (draining) session.drain();
    },
    drain() {
      draining = true;
      for (const session of sessions) session.drain();
    },
    get active() {
      return sessions.size;
    },
  };
}

function policyOf(message: DetectStreamRequest): StreamPolicy {
  return message.policy === 'OVERLOAD_POLICY_LATEST' ? 'LATEST' : 'QUEUE';
}

class StreamSession {
  private window: FrameWindow<Payload, Served> | undefined;
  private options: DetectOptions | null = null;
  private readonly stop = new AbortController();
  private readonly now: () => number;
  private halfClosed = false;
  private draining = false;
  private ended = false;
  private writeBlocked = false;
  private lastAnswered: bigint | undefined;
  private releasedBytes = 0;

  constructor(
    private readonly call: Call,
    private readonly deps: DetectStreamDeps,
    private readonly onClosed: () => void,
  ) {
    this.now = deps.now ?? Date.now;
    // One 'cancelled' listener per frame in flight (the dispatcher's), besides ours.
    call.setMaxListeners(deps.maxInFlight + 10);
    deps.observer?.opened();
    call.on('data', (message: DetectStreamRequest) => this.onMessage(message));
    call.on('end', () => {
      this.halfClosed = true;
      this.pump();
    });
    call.on('cancelled', () => this.close());
    call.on('error', () => this.close());
    call.on('drain', () => {
      this.writeBlocked = false;
      this.pump();
    });
  }

  drain(): void {
    this.draining = true;
    this.pump();
  }

  private get deadline(): number {
    const deadline = callDeadline(this.call);
    return Math.min(deadline, this.now() + this.deps.defaultDeadlineMs);
  }

  private onMessage(message: DetectStreamRequest): void {
    if (this.ended) return releaseRequest(message);
    if (!this.window) {
      // The first message sets the stream up; later messages' settings are ignored.
      const asked = message.maxInFlight;
      this.window = new FrameWindow(policyOf(message), asked > 0 ? Math.min(asked, this.deps.maxInFlight) : this.deps.maxInFlight);
      this.options = message.options;
    }
    const frame = message.frame;
    if (!frame) return this.release(message);
    if (this.draining) {
      // Read after the drain began: not taken; the client resends it elsewhere.
      return this.release(message);
    }
    try {
      this.window.arrive({ sequence: BigInt(frame.sequence), arrivedAt: this.now(), maxLatencyMs: frame.maxLatencyMs, payload: { image: frame.image ?? { id: '' }, message } });
    } catch (error) {
      this.release(message);
      if (error instanceof SequenceError) return this.fail(grpcError(grpc.status.INVALID_ARGUMENT, error.message));
      throw error;
    }
    this.pump();
  }

  /** Starts what the window allows, sends what is decided, adjusts reading, ends when done. */
  private pump(): void {
    if (this.ended) return;
    const window = this.window;
    if (window) {
      for (const frame of window.start(this.now())) this.dispatch(window, frame);
      for (const answer of window.takeAnswers()) this.answer(answer);
    }
    if (this.ended) return;
    const unanswered = window?.unanswered ?? 0;
    if (this.draining && unanswered === 0) return this.fail(grpcError(grpc.status.UNAVAILABLE, this.drainMessage()));
    if (this.halfClosed && unanswered === 0) return this.finish();
    const read = !this.draining && !this.writeBlocked && (window?.acceptsMore ?? true);
    if (read && this.call.isPaused()) this.call.resume();
    else if (!read && !this.call.isPaused()) this.call.pause();
  }

  private drainMessage(): string {
    const last = this.lastAnswered === undefined ? 'no frame was answered' : `frames up to sequence ${this.lastAnswered} were answered`;
    return `gateway is shutting down: ${last}; send later frames on a new stream`;
  }

  private dispatch(window: FrameWindow<Payload, Served>, frame: WindowFrame<Payload>): void {
    const image = frame.payload.image;
    this.deps.dispatcher
      .detect({ images: [image], options: this.options }, { deadline: this.deadline, parent: this.call, signal: this.stop.signal })
      .then(
        (response): Served => ({ result: response.results[0]!, model: response.model }),
        (error: unknown): Served => {
          const e = isServiceError(error) ? error : grpcError(grpc.status.INTERNAL, 'internal error');
          if (!isServiceError(error)) this.deps.log.error('stream frame failed', { err: error });
          // The stream's options are wrong: every frame would fail alike.
          if (e.code === grpc.status.INVALID_ARGUMENT) this.fail(forClient(e));
          return { result: { id: image.id, status: { code: e.code, message: e.details }, detections: [], width: 0, height: 0 }, model: '' };
        },
      )
      .then((served) => {
        if (this.ended) return;
        window.finish(frame, served, this.now());
        this.pump();
      })
      .catch((error: unknown) => {
        this.deps.log.error('stream failed', { err: error });
        this.fail(grpcError(grpc.status.INTERNAL, 'internal error'));
      });
  }

  private answer({ frame, outcome }: FrameAnswer<Payload, Served>): void {
    const image = frame.payload.image;
    const latencyMs = Math.max(0, this.now() - frame.arrivedAt);
    let response: DetectStreamResponseInit;
    if (outcome.kind === 'served') {
      const { result, model } = outcome.result;
      response = { sequence: frame.sequence.toString(), result, latencyMs, model };
      const code = result.status?.code ?? grpc.status.UNKNOWN;
      this.deps.observer?.frame(code === grpc.status.OK ? 'served' : 'failed', code === grpc.status.OK ? '' : (grpc.status[code] ?? String(code)), latencyMs / 1000);
    } else {
      const dropped = DROPPED[outcome.cause];
      response = {
        sequence: frame.sequence.toString(),
        result: { id: image.id, status: { code: dropped.code, message: dropped.message }, detections: [], width: 0, height: 0 },
        dropReason: dropped.reason,
        latencyMs,
      };
      this.deps.observer?.frame('dropped', outcome.cause, latencyMs / 1000);
    }
    this.release(frame.payload.message);
    this.lastAnswered = frame.sequence;
    if (!this.call.write(response)) this.writeBlocked = true;
  }

  /** The frame's bytes go back to the request budget; a minor GC once many have been dropped (see collect.ts). */
  private release(message: DetectStreamRequest): void {
    this.releasedBytes += requestSize(message) ?? 0;
    releaseRequest(message);
    if (this.releasedBytes >= COLLECT_AFTER_BYTES) {
      this.releasedBytes = 0;
      setImmediate(collectYoung);
    }
  }

  private finish(): void {
    if (this.ended) return;
    this.close();
    this.call.end();
  }

  /** Ends the stream with `error` as its status; frames still running are cancelled. */
  private fail(error: grpc.ServiceError): void {
    if (this.ended) return;
    this.close();
    this.call.emit('error', error);
  }

  private close(): void {
    if (this.ended) return;
    this.ended = true;
    // Queued and running work of this stream ends now: the detectors drop what they queued.
    this.stop.abort();
    this.deps.observer?.closed();
    this.onClosed();
  }
}
