// How many CPUs this process may really use. Inside a container the host's core count is a
// lie: the pod's CPU limit arrives as a cgroup quota, and sizing thread pools from the host
// oversubscribes the quota and gets throttled.
import { availableParallelism } from 'node:os';
import { readFileSync } from 'node:fs';

/** Parses cgroup v2 `cpu.max` ("max 100000" or "150000 100000"); undefined when unlimited. */
export function parseCpuMax(text: string): number | undefined {
  const [quota, period] = text.trim().split(/\s+/);
  if (quota === undefined || quota === 'max') return undefined;
  const q = Number(quota);
  const p = Number(period ?? '100000');
  if (!Number.isFinite(q) || !Number.isFinite(p) || q <= 0 || p <= 0) return undefined;
  return q / p;
}

/** CPUs granted to this process: the cgroup quota rounded down (at least 1), capped by the cores. */
export function availableCpus(readCpuMax: () => string | undefined = defaultCpuMax): number {
  const cores = availableParallelism();
  let text: string | undefined;
  try {
    text = readCpuMax();
  } catch {
    text = undefined;
  }
  const quota = text === undefined ? undefined : parseCpuMax(text);
  if (quota === undefined) return cores;
  return Math.max(1, Math.min(cores, Math.floor(quota)));
}

function defaultCpuMax(): string | undefined {
  return readFileSync('/sys/fs/cgroup/cpu.max', 'utf8');
}
