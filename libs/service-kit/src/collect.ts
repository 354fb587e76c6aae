// A minor garbage collection on demand, for threads that drop large buffers (decoded images,
// request messages and the copies made of them).
//
// V8 frees an ArrayBuffer only when its heap is collected, and a thread whose few small objects
// rarely fill its young generation collects rarely, so image buffers the memory budget has
// already given back would linger: measured here, 4 requests of 32 decoded 4000x4000 images
// peaked hundreds of MB above the budget. Collecting right after a thread drops large buffers
// frees them at once; a minor collection of these small heaps costs well under a millisecond.
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as (options: { type: 'minor' | 'major'; execution: 'sync' }) => void;

/** Bytes of dropped buffers after which a thread collects at once. */
export const COLLECT_AFTER_BYTES = 4 * 1024 * 1024;

export function collectYoung(): void {
  gc({ type: 'minor', execution: 'sync' });
}
