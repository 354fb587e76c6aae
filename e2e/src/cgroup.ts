// A memory cgroup of the test's own, so a service runs under the same kernel-enforced limit as
// in its pod (cgroup v1 here; v2 where delegated): over the limit the kernel kills it, exactly as
// Kubernetes would. The service reads its limit from the cgroup, as it does in a container.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';

export interface MemoryCgroup {
  dir: string;
  version: 1 | 2;
  /** Command that starts `argv` inside the cgroup. */
  wrap(argv: string[]): string[];
  /** Times the kernel's OOM killer acted in this cgroup. */
  oomKills(): number;
  remove(): void;
}

function ownPath(controller: string): string | undefined {
  for (const line of readFileSync('/proc/self/cgroup', 'utf8').split('\n')) {
    const [, controllers, p] = line.split(':');
    if (controllers !== undefined && (controllers === controller || controllers.split(',').includes(controller))) return p;
  }
  return undefined;
}

/** A fresh cgroup limited to `bytes`, or the reason none can be made here. */
export function memoryCgroup(bytes: number): MemoryCgroup | { unavailable: string } {
  const name = `edge-ssd-test-${randomBytes(4).toString('hex')}`;
  const wrap = (dir: string) => (argv: string[]) => ['/bin/sh', '-c', `echo $$ > "${dir}/cgroup.procs" && exec "$@"`, 'sh', ...argv];
  const v1 = ownPath('memory');
  if (v1 !== undefined && existsSync('/sys/fs/cgroup/memory')) {
    const dir = path.join('/sys/fs/cgroup/memory', v1, name);
    try {
      mkdirSync(dir);
      writeFileSync(path.join(dir, 'memory.limit_in_bytes'), String(bytes));
      return {
        dir,
        version: 1,
        wrap: wrap(dir),
        oomKills: () => Number(/oom_kill (\d+)/.exec(readFileSync(path.join(dir, 'memory.oom_control'), 'utf8'))?.[1] ?? 0),
        remove: () => rmdirSync(dir),
      };
    } catch (error) {
      return { unavailable: `cannot make a v1 memory cgroup under ${path.dirname(dir)}: ${(error as Error).message}` };
    }
  }
  const v2 = ownPath('');
  if (v2 !== undefined && existsSync('/sys/fs/cgroup/cgroup.controllers')) {
    const dir = path.join('/sys/fs/cgroup', v2, name);
    try {
      mkdirSync(dir);
      writeFileSync(path.join(dir, 'memory.max'), String(bytes));
      return {
        dir,
        version: 2,
        wrap: wrap(dir),
        oomKills: () => Number(/oom_kill (\d+)/.exec(readFileSync(path.join(dir, 'memory.events'), 'utf8'))?.[1] ?? 0),
        remove: () => rmdirSync(dir),
      };
    } catch (error) {
      return { unavailable: `cannot make a v2 memory cgroup under ${path.dirname(dir)} (is the memory controller delegated?): ${(error as Error).message}` };
    }
  }
  return { unavailable: 'no cgroup memory controller is mounted' };
}

/** Peak resident memory of a live process (VmHWM), in bytes. */
export function peakRss(pid: number): number {
  return Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) * 1024;
}
