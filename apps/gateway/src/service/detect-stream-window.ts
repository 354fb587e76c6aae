// The order and overload policy of one DetectStream, as plain state with no I/O: frames arrive,
// some are started (at most `maxInFlight` at once), some are dropped, outcomes come back in any
// order, and answers leave in arrival order, which is sequence order since sequences must grow.
//
// QUEUE starts every frame in turn; the stream is read only while fewer than a window of frames
// wait, so a client that sends faster is slowed by flow control. LATEST keeps latency bounded:
// a waiting frame is dropped (superseded) as soon as a newer one arrives, and a frame whose wait
// plus the stream's recent service time would pass its max_latency_ms is dropped (stale) rather
// than started.

export type StreamPolicy = 'QUEUE' | 'LATEST';
export type DropCause = 'superseded' | 'stale';

export interface WindowFrame<T> {
  sequence: bigint;
  /** When the gateway read it, ms on the caller's clock. */
  arrivedAt: number;
  /** LATEST only; 0 = no limit. */
  maxLatencyMs: number;
  payload: T;
}

type FrameOutcome<R> = { kind: 'served'; result: R } | { kind: 'dropped'; cause: DropCause };

export interface FrameAnswer<T, R> {
  frame: WindowFrame<T>;
  outcome: FrameOutcome<R>;
}

export class SequenceError extends Error {
  override readonly name = 'SequenceError';
}

interface Slot<T, R> {
  frame: WindowFrame<T>;
  outcome?: FrameOutcome<R>;
  startedAt?: number;
}

/** Weight of the newest service time in the running estimate. */
const EWMA = 0.25;

export class FrameWindow<T, R> {
  /** Frames not yet answered, in arrival order. */
  private readonly slots: Array<Slot<T, R>> = [];
  private readonly waiting: Array<Slot<T, R>> = [];
  private running = 0;
  private last: bigint | undefined;
  private serviceMs = 0;

  constructor(
    readonly policy: StreamPolicy,
    readonly maxInFlight: number,
  ) {
    if (!(maxInFlight >= 1)) throw new RangeError(`maxInFlight must be >= 1, got ${maxInFlight}`);
  }

  get inFlight(): number {
    return this.running;
  }

  get waitingCount(): number {
    return this.waiting.length;
  }

  /** Frames read and not yet answered (started, waiting, or done but behind an earlier one). */
  get unanswered(): number {
    return this.slots.length;
  }

  /** Running estimate of one frame's service time, ms (0 until one was served). */
  get serviceEstimateMs(): number {
    return this.serviceMs;
  }

  /** Whether the stream may be read further: QUEUE stops while a window of frames waits. */
  get acceptsMore(): boolean {
    return this.policy === 'LATEST' || this.waiting.length < this.maxInFlight;
  }

  /** A frame was read. Sequences must grow strictly; LATEST drops the frames it supersedes. */
  arrive(frame: WindowFrame<T>): void {
    if (this.last !== undefined && frame.sequence <= this.last) {
      throw new SequenceError(`frame sequence ${frame.sequence} does not follow ${this.last}: sequences must increase`);
    }
    this.last = frame.sequence;
    if (this.policy === 'LATEST') {
      for (const older of this.waiting.splice(0)) older.outcome = { kind: 'dropped', cause: 'superseded' };
    }
    const slot: Slot<T, R> = { frame };
    this.slots.push(slot);
    this.waiting.push(slot);
  }

  /** Frames to start now, oldest first, as the window has room; LATEST drops stale ones instead. */
  start(now: number): Array<WindowFrame<T>> {
    const started: Array<WindowFrame<T>> = [];
    while (this.running < this.maxInFlight && this.waiting.length > 0) {
      // Until one frame was served, how long a frame takes is unknown: a frame with a limit
      // waits for it rather than join a queue that may already be too long.
      if (this.policy === 'LATEST' && this.running > 0 && this.serviceMs === 0 && this.waiting[0]!.frame.maxLatencyMs > 0) break;
      const slot = this.waiting.shift()!;
      if (this.isStale(slot.frame, now)) {
        slot.outcome = { kind: 'dropped', cause: 'stale' };
        continue;
      }
      slot.startedAt = now;
      this.running++;
      started.push(slot.frame);
    }
    return started;
  }

  /** A started frame's result. */
  finish(frame: WindowFrame<T>, result: R, now: number): void {
    const slot = this.slots.find((s) => s.frame === frame);
    if (!slot || slot.startedAt === undefined || slot.outcome) throw new Error(`frame ${frame.sequence} was not in flight`);
    slot.outcome = { kind: 'served', result };
    this.running--;
    const took = now - slot.startedAt;
    this.serviceMs = this.serviceMs === 0 ? took : this.serviceMs + EWMA * (took - this.serviceMs);
  }

  /** Answers ready to send: every decided frame up to the first undecided one, in order. */
  takeAnswers(): Array<FrameAnswer<T, R>> {
    const ready: Array<FrameAnswer<T, R>> = [];
    while (this.slots.length > 0 && this.slots[0]!.outcome) {
      const slot = this.slots.shift()!;
      ready.push({ frame: slot.frame, outcome: slot.outcome! });
    }
    return ready;
  }

  /**
   * Could the frame still be answered within its limit if started now? It is counted as finishing
   * after the stream's frames already in flight, one service time each (what a saturated detector
   * does), so a slow service keeps fewer frames in flight instead of queueing them late. A stream
   * with nothing in flight always starts a frame that has not yet waited past its limit, so a
   * limit shorter than the service time slows the stream to one frame at a time instead of
   * dropping every frame.
   */
  private isStale(frame: WindowFrame<T>, now: number): boolean {
    if (this.policy !== 'LATEST' || frame.maxLatencyMs <= 0) return false;
    const waited = now - frame.arrivedAt;
    if (waited > frame.maxLatencyMs) return true;
    return this.running > 0 && waited + this.serviceMs * (this.running + 1) > frame.maxLatencyMs;
  }
}
