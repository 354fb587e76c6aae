// At most N session runs at once across the pool's threads. With more workers than runs, a worker
// preprocesses its next batch (JavaScript, one core) while another worker's run has every
// onnxruntime thread on the cores, so one image alone gets all of the pod's CPUs and a loaded
// pool never runs more onnxruntime threads than there are cores. The count lives in shared
// memory: workers block on it with Atomics.wait, which a worker thread may do.

/** The shared counter of free runs, created by the pool and handed to every worker. */
export function createRunGate(runs: number): SharedArrayBuffer {
  const buffer = new SharedArrayBuffer(Int32Array.BYTES_PER_ELEMENT);
  new Int32Array(buffer)[0] = runs;
  return buffer;
}

export class RunGate {
  private readonly free: Int32Array;

  constructor(buffer: SharedArrayBuffer) {
    this.free = new Int32Array(buffer);
  }

  /** Runs `work` holding one of the runs, waiting (blocking this thread) for one to be free. */
  async exclusive<T>(work: () => Promise<T>): Promise<T> {
    this.acquire();
    try {
      return await work();
    } finally {
      Atomics.add(this.free, 0, 1);
      Atomics.notify(this.free, 0, 1);
    }
  }

  private acquire(): void {
    for (;;) {
      const free = Atomics.load(this.free, 0);
      if (free > 0) {
        if (Atomics.compareExchange(this.free, 0, free, free - 1) === free) return;
      } else {
        Atomics.wait(this.free, 0, free);
      }
    }
  }
}
