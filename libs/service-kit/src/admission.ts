// Admission before the body: a server interceptor that lets a call's request message be read only
// once the call is admitted (credentials checked, memory reserved), after grpc-go's rule that
// credentials are checked before a message is read. grpc-js reads a call's message only after its
// metadata has passed every interceptor, so a call refused here never has its body decoded.
//
// Requests are measured on the way in (requestSize) and may be refused by a cheap scan of their
// bytes before protobuf decoding allocates anything (a `guard`), e.g. a million class ids.
import * as grpc from '@grpc/grpc-js';
import { BudgetError, type ByteBudget, type Reservation } from './byte-budget';

/** The status a refused call is answered with. */
interface Refusal {
  code: grpc.status;
  details: string;
}

export interface CallGate {
  /** Before the body is read: undefined lets the call go on; a status ends it there. */
  beforeRead(metadata: grpc.Metadata): Promise<Refusal | undefined> | Refusal | undefined;
  /**
   * A request message arrived (measured by requestSize); a status refuses it. A promise holds the
   * message back, and the reading of the next one, until it settles.
   */
  onMessage?(message: unknown): MessageCheck;
  /** Called once when the call ends, however it ends. */
  onEnd?(): void;
}

type MessageCheck = Promise<Refusal | undefined> | Refusal | undefined;

/** The method a call is for: its path (/package.Service/Method) and whether the client streams. */
export interface CalledMethod {
  path: string;
  requestStream: boolean;
}

/** The interceptor: `gateFor` gives each call its gate, or undefined to let it pass. */
export function gateInterceptor(gateFor: (method: CalledMethod, call: grpc.ServerInterceptingCallInterface) => CallGate | undefined): grpc.ServerInterceptor {
  return (method, call) => {
    const gate = gateFor({ path: method.path, requestStream: method.requestStream }, call);
    if (!gate) return new grpc.ServerInterceptingCall(call);
    let ended = false;
    const end = (): void => {
      if (ended) return;
      ended = true;
      gate.onEnd?.();
    };
    const refuse = (status: Refusal): void => {
      call.sendStatus({ metadata: new grpc.Metadata(), ...status });
      end();
    };
    return new grpc.ServerInterceptingCall(call, {
      start(next) {
        next({
          onReceiveMetadata(metadata, nextMetadata) {
            Promise.resolve()
              .then(() => gate.beforeRead(metadata))
              .then(
                (status) => (status ? refuse(status) : nextMetadata(metadata)),
                () => refuse({ code: grpc.status.INTERNAL, details: 'internal error' }),
              );
          },
          onReceiveMessage(message, nextMessage) {
            const check = refusalOf(message) ?? gate.onMessage?.(message);
            const settle = (refusal: Refusal | undefined): void => (refusal ? refuse(refusal) : nextMessage(message));
            // Unary calls stay synchronous; a stream's message may wait for memory.
            if (check instanceof Promise) check.then(settle, () => refuse({ code: grpc.status.INTERNAL, details: 'internal error' }));
            else settle(check);
          },
          onCancel() {
            end();
          },
        });
      },
      sendStatus(status, next) {
        next(status);
        end();
      },
    });
  };
}

/** Gates applied in order: the first refusal ends the call; every gate hears the end. */
export function allGates(...gates: CallGate[]): CallGate {
  return {
    async beforeRead(metadata) {
      for (const gate of gates) {
        const refusal = await gate.beforeRead(metadata);
        if (refusal) return refusal;
      }
      return undefined;
    },
    onMessage(message) {
      const from = (i: number): MessageCheck => {
        for (; i < gates.length; i++) {
          const check = gates[i]!.onMessage?.(message);
          const next = i + 1;
          if (check instanceof Promise) return check.then((refusal) => refusal ?? from(next));
          if (check) return check;
        }
        return undefined;
      };
      return from(0);
    },
    onEnd() {
      for (const gate of gates) gate.onEnd?.();
    },
  };
}

export interface MemoryGateOptions {
  /** Reserved while the body is read: the largest message the server accepts, times `factor`. */
  worstCaseBytes: number;
  /** Bytes a request pins per byte of its message (its buffers, copies made of it, its response). */
  factor: number;
  /** Keep the worst case for the whole call (a client stream reads later messages into it too). */
  holdForCall?: boolean;
  /**
   * A stream whose messages are held after they are read (frames in flight): each message, once
   * read, waits for a reservation of its own (size x factor) before it is handed on (and before the
   * next is read), kept until releaseRequest(message) or the call's end. The worst case, held for
   * the call, then covers only the message being read.
   */
  perMessage?: boolean;
  maxWaitMs: number;
  /** The call's deadline, epoch ms (Infinity for none). */
  deadline: number;
}

/**
 * Reserves memory for a call before its body is read: the worst case while it is read, shrunk to
 * what the message really pins once its size is known, released when the call ends. A call that
 * cannot get it within maxWaitMs is answered RESOURCE_EXHAUSTED, its body unread.
 */
export function memoryGate(budget: ByteBudget, options: MemoryGateOptions): CallGate {
  let reservation: Reservation | undefined;
  let ended = false;
  const abort = new AbortController();
  const perMessage = new Set<Reservation>();
  const refusal = (error: BudgetError): Refusal => {
    const code = error.reason === 'deadline' ? grpc.status.DEADLINE_EXCEEDED : error.reason === 'cancelled' ? grpc.status.CANCELLED : grpc.status.RESOURCE_EXHAUSTED;
    return { code, details: error.message };
  };
  const holdMessage = async (message: object, bytes: number): Promise<Refusal | undefined> => {
    try {
      const granted = await budget.acquire(Math.min(bytes, budget.capacity), { deadline: options.deadline, maxWaitMs: options.maxWaitMs, signal: abort.signal });
      if (ended) {
        granted.release();
        return undefined;
      }
      perMessage.add(granted);
      held.set(message, () => {
        perMessage.delete(granted);
        granted.release();
      });
      return undefined;
    } catch (error) {
      if (!(error instanceof BudgetError)) throw error;
      return refusal(error);
    }
  };
  return {
    async beforeRead() {
      try {
        const granted = await budget.acquire(Math.min(options.worstCaseBytes, budget.capacity), { deadline: options.deadline, maxWaitMs: options.maxWaitMs, signal: abort.signal });
        // The caller may have left while we waited.
        if (ended) granted.release();
        else reservation = granted;
        return undefined;
      } catch (error) {
        if (!(error instanceof BudgetError)) throw error;
        return refusal(error);
      }
    },
    onMessage(message) {
      const size = requestSize(message);
      if (options.perMessage && size !== undefined) return holdMessage(message as object, Math.ceil(size * options.factor));
      if (size !== undefined && !options.holdForCall) reservation?.shrinkTo(Math.ceil(size * options.factor));
      return undefined;
    },
    onEnd() {
      ended = true;
      abort.abort();
      reservation?.release();
      for (const r of perMessage) r.release();
      perMessage.clear();
    },
  };
}

const sizes = new WeakMap<object, number>();
const held = new WeakMap<object, () => void>();

/** Gives back what a stream's message holds of its call's memory (memoryGate's perMessage). */
export function releaseRequest(message: unknown): void {
  if (typeof message !== 'object' || message === null) return;
  const release = held.get(message);
  held.delete(message);
  release?.();
}
const REFUSED = Symbol('edge-ssd:refused');

/** Serialized size of a request message read by a service made with measuredService. */
export function requestSize(message: unknown): number | undefined {
  return typeof message === 'object' && message !== null ? sizes.get(message) : undefined;
}

function refusalOf(message: unknown): Refusal | undefined {
  return typeof message === 'object' && message !== null ? (message as { [REFUSED]?: Refusal })[REFUSED] : undefined;
}

/** Inspects a request's bytes before they are decoded; a status refuses the call. */
export type RequestGuard = (bytes: Buffer) => Refusal | undefined;

/**
 * The service definition with every request measured, and refused before decoding when its
 * method's guard says so (the gate interceptor answers with the guard's status).
 */
export function measuredService(service: grpc.ServiceDefinition, guards: Record<string, RequestGuard> = {}): grpc.ServiceDefinition {
  const wrapped: Record<string, grpc.MethodDefinition<unknown, unknown>> = {};
  for (const [name, method] of Object.entries(service)) {
    const guard = guards[name];
    const deserialize = method.requestDeserialize;
    wrapped[name] = {
      ...method,
      requestDeserialize: (bytes: Buffer) => {
        const refused = guard?.(bytes);
        if (refused) return { [REFUSED]: refused };
        const message = deserialize(bytes) as object;
        sizes.set(message, bytes.length);
        return message;
      },
    };
  }
  return wrapped as grpc.ServiceDefinition;
}
