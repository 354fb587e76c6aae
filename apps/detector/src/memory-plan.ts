// How the detector divides its memory limit, decided once the model is loaded and every worker
// has warmed up (so the sessions' arenas are in the measured baseline):
//
//   limit = headroom (20 %: GC slack, allocator fragmentation, libvips and V8 transients)
//         + baseline (RSS at ready: node, the model, onnxruntime sessions and their arenas)
//         + message budget (request bytes being read or held: at least one largest message)
//         + pixel budget (decoded images from admission until their run is done)
import { MiB } from '@edge-ssd/service-kit';

export interface MemoryPlan {
  limitBytes: number;
  baselineBytes: number;
  headroomBytes: number;
  messageBytes: number;
  pixelBytes: number;
}

const HEADROOM = 0.2;
/** Below this a detector could hold too few images to keep its workers busy. */
const MIN_PIXEL_BUDGET = 48 * MiB;

class MemoryPlanError extends Error {
  override readonly name = 'MemoryPlanError';
}

export function planMemory(limitBytes: number, baselineBytes: number, maxMessageBytes: number): MemoryPlan {
  const headroomBytes = Math.ceil(limitBytes * HEADROOM);
  const spare = limitBytes - headroomBytes - baselineBytes;
  const messageBytes = Math.max(Math.floor(spare / 4), maxMessageBytes);
  const pixelBytes = spare - messageBytes;
  if (pixelBytes < MIN_PIXEL_BUDGET) {
    const mib = (b: number) => `${Math.round(b / MiB)} MiB`;
    throw new MemoryPlanError(
      `memory limit ${mib(limitBytes)} is too small: the model and workers use ${mib(baselineBytes)} at rest, ${mib(headroomBytes)} is kept as headroom and ` +
        `${mib(messageBytes)} for request messages, leaving ${mib(pixelBytes)} for decoded images (at least ${mib(MIN_PIXEL_BUDGET)} needed); ` +
        'raise the limit, lower DETECTOR_POOL_SIZE or DETECTOR_MAX_BATCH, or lower DETECTOR_MAX_MESSAGE_BYTES',
    );
  }
  return { limitBytes, baselineBytes, headroomBytes, messageBytes, pixelBytes };
}
