// What a process may really use. Inside a container the host's cores and memory are a lie: the
// pod's limits arrive as cgroup settings, and sizing thread pools or memory budgets from the host
// oversubscribes them (CPU throttling, OOM kills). Both cgroup v2 (cpu.max, memory.max) and v1
// (cpu.cfs_quota_us / cpu.cfs_period_us, memory.limit_in_bytes) are read, at the process's own
// cgroup and every ancestor visible here (a parent's limit binds too); the smallest wins.
import { availableParallelism, totalmem } from 'node:os';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';

/** Reads a file's text, or undefined when it cannot be read. */
export type ReadText = (file: string) => string | undefined;

const readText: ReadText = (file) => {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
};

/** v1 reports "no limit" as a page-aligned number near 2^63. */
const V1_UNLIMITED = 2 ** 60;

/** Parses cgroup v2 `cpu.max` ("max 100000" or "150000 100000"); undefined when unlimited. */
export function parseCpuMax(text: string): number | undefined {
  const [quota, period] = text.trim().split(/\s+/);
  if (quota === undefined || quota === 'max') return undefined;
  const q = Number(quota);
  const p = Number(period ?? '100000');
  if (!Number.isFinite(q) || !Number.isFinite(p) || q <= 0 || p <= 0) return undefined;
  return q / p;
}

interface CgroupPaths {
  v2?: string;
  v1: Map<string, string>;
}

/** `/proc/self/cgroup`: "0::/path" (v2) and "N:controller,controller:/path" (v1). */
export function parseProcCgroup(text: string): CgroupPaths {
  const paths: CgroupPaths = { v1: new Map() };
  for (const line of text.split('\n')) {
    const match = /^(\d+):([^:]*):(.*)$/.exec(line.trim());
    if (!match) continue;
    const [, id, controllers, p] = match;
    if (id === '0' && controllers === '') paths.v2 = p!;
    else for (const c of controllers!.split(',')) if (c) paths.v1.set(c, p!);
  }
  return paths;
}

/** A directory and its ancestors up to (and including) `root`. */
function upTo(root: string, relative: string): string[] {
  const dirs: string[] = [];
  let rel = path.posix.normalize(`/${relative}`);
  for (;;) {
    dirs.push(path.posix.join(root, rel));
    if (rel === '/') break;
    rel = path.posix.dirname(rel);
  }
  return dirs;
}

function smallest(values: Array<number | undefined>): number | undefined {
  const set = values.filter((v): v is number => v !== undefined && Number.isFinite(v) && v > 0);
  return set.length === 0 ? undefined : Math.min(...set);
}

/** Directories where a controller's files may be: under the process's path and at the mount root (containers without a cgroup namespace on v1). */
function candidates(paths: CgroupPaths, v1Controller: string, v1Mounts: string[], fsRoot: string): { v2: string[]; v1: string[] } {
  // v2 is mounted at /sys/fs/cgroup, or at /sys/fs/cgroup/unified beside v1 ("hybrid" hosts).
  const v2 = paths.v2 === undefined ? [] : ['sys/fs/cgroup', 'sys/fs/cgroup/unified'].flatMap((root) => upTo(path.posix.join(fsRoot, root), paths.v2!));
  const v1: string[] = [];
  const rel = paths.v1.get(v1Controller);
  for (const mount of v1Mounts) {
    const root = path.posix.join(fsRoot, 'sys/fs/cgroup', mount);
    v1.push(...(rel !== undefined ? upTo(root, rel) : [root]));
  }
  return { v2, v1 };
}

export interface CgroupLimits {
  /** CPUs of quota (fractional), undefined when unlimited. */
  cpus?: number;
  /** Memory limit in bytes, undefined when unlimited. */
  memoryBytes?: number;
}

export function readCgroupLimits(read: ReadText = readText, fsRoot = '/'): CgroupLimits {
  const paths = parseProcCgroup(read(path.posix.join(fsRoot, 'proc/self/cgroup')) ?? '');
  const cpu = candidates(paths, 'cpu', ['cpu', 'cpu,cpuacct', 'cpuacct,cpu'], fsRoot);
  const cpus = smallest([
    ...cpu.v2.map((d) => {
      const text = read(path.posix.join(d, 'cpu.max'));
      return text === undefined ? undefined : parseCpuMax(text);
    }),
    ...cpu.v1.map((d) => {
      const quota = Number(read(path.posix.join(d, 'cpu.cfs_quota_us'))?.trim());
      const period = Number(read(path.posix.join(d, 'cpu.cfs_period_us'))?.trim());
      return quota > 0 && period > 0 ? quota / period : undefined;
    }),
  ]);
  const mem = candidates(paths, 'memory', ['memory'], fsRoot);
  const memoryBytes = smallest([
    ...mem.v2.map((d) => {
      const text = read(path.posix.join(d, 'memory.max'))?.trim();
      return text === undefined || text === 'max' ? undefined : Number(text);
    }),
    ...mem.v1.map((d) => {
      const value = Number(read(path.posix.join(d, 'memory.limit_in_bytes'))?.trim());
      return value > 0 && value < V1_UNLIMITED ? value : undefined;
    }),
  ]);
  return { cpus, memoryBytes };
}

/** CPUs granted to this process: the cgroup quota rounded down (at least 1), capped by the cores. */
export function availableCpus(limits: CgroupLimits = readCgroupLimits()): number {
  const cores = availableParallelism();
  if (limits.cpus === undefined) return cores;
  return Math.max(1, Math.min(cores, Math.floor(limits.cpus)));
}

/** What this process may use, as services size themselves by it. */
export interface HostLimits {
  /** Whole CPUs (see availableCpus). */
  cpus: number;
  /** The cgroup memory limit, undefined when unlimited. */
  memoryBytes?: number;
}

export function hostLimits(): HostLimits {
  const limits = readCgroupLimits();
  return { cpus: availableCpus(limits), memoryBytes: limits.memoryBytes };
}

/** Without any limit a service budgets as if it had this much (or the machine's RAM, if less). */
export const UNLIMITED_MEMORY_FALLBACK = 2 * 1024 ** 3;

export interface MemoryLimit {
  bytes: number;
  source: 'env' | 'cgroup' | 'fallback';
}

/** The memory limit to budget against: an explicit setting, else the cgroup's, else the fallback. */
export function memoryLimit(explicit: number | undefined, limits: { memoryBytes?: number } = readCgroupLimits()): MemoryLimit {
  if (explicit !== undefined) return { bytes: explicit, source: 'env' };
  if (limits.memoryBytes !== undefined) return { bytes: Math.min(limits.memoryBytes, totalmem()), source: 'cgroup' };
  return { bytes: Math.min(UNLIMITED_MEMORY_FALLBACK, totalmem()), source: 'fallback' };
}
