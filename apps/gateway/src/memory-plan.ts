// How the gateway divides its memory limit, decided once it is initialised (before it listens):
//
//   limit = headroom (20 %) + baseline (RSS when ready: node, grpc-js, its modules)
//         + operational budget (health checks and reflection: their bodies are read too, and
//           they need no credentials: two largest messages at most)
//         + request budget (Detect and GetModelInfo messages and what the gateway makes of them)
import { MiB } from '@edge-ssd/service-kit';

export interface GatewayMemoryPlan {
  limitBytes: number;
  baselineBytes: number;
  headroomBytes: number;
  operationalBytes: number;
  requestBytes: number;
}

const HEADROOM = 0.2;
/**
 * Bytes a Detect call pins per byte of its message, measured (4 concurrent requests of 7.2 MB held
 * 81 MB of buffers, a major collection freeing none of it): the message itself (its images stay
 * views into it for retries), each chunk message serialized from it and grpc-js's framed copy,
 * queued until the detector reads it. Answers are small.
 */
export const REQUEST_FACTOR = 4;

class MemoryPlanError extends Error {
  override readonly name = 'MemoryPlanError';
}

export function planGatewayMemory(limitBytes: number, baselineBytes: number, maxMessageBytes: number): GatewayMemoryPlan {
  const headroomBytes = Math.ceil(limitBytes * HEADROOM);
  const operationalBytes = 2 * maxMessageBytes;
  const requestBytes = limitBytes - headroomBytes - baselineBytes - operationalBytes;
  if (requestBytes < REQUEST_FACTOR * maxMessageBytes) {
    const mib = (b: number) => `${Math.round(b / MiB)} MiB`;
    throw new MemoryPlanError(
      `memory limit ${mib(limitBytes)} is too small for ${mib(maxMessageBytes)} messages: the gateway uses ${mib(baselineBytes)} at rest and keeps ${mib(headroomBytes)} as headroom, ` +
        `leaving ${mib(requestBytes)} for requests where one largest request needs ${mib(REQUEST_FACTOR * maxMessageBytes)}; raise the limit or lower GATEWAY_MAX_MESSAGE_BYTES`,
    );
  }
  return { limitBytes, baselineBytes, headroomBytes, operationalBytes, requestBytes };
}
