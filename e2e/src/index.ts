// Starting the real services as child processes for end-to-end tests and benchmarks.
import { spawn, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import * as readline from 'node:readline';

export const REPO_ROOT = path.resolve(__dirname, '..', '..');

export interface RunningService {
  name: string;
  port: number;
  /** The fields of its "ready" log line (metricsPort, model, ...). */
  ready: Record<string, unknown>;
  process: ChildProcess;
  /** Every line the service printed on stdout and stderr so far. */
  output: string[];
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/**
 * Spawns `node <script>` and resolves once it logs `<name> ready` (its JSON line carries
 * the bound port, so services can bind port 0 and never race for a free one).
 */
export function startService(name: 'detector' | 'gateway', env: Record<string, string>, timeoutMs = 180_000): Promise<RunningService> {
  const script = path.join(REPO_ROOT, 'apps', name, 'dist', 'main.js');
  const child = spawn(process.execPath, [script], { cwd: REPO_ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const output: string[] = [];
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const stop = async (signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    return exited;
  };
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      void stop('SIGKILL');
      reject(new Error(`${name} did not start within ${timeoutMs} ms:\n${output.join('\n')}`));
    }, timeoutMs);
    readline.createInterface({ input: child.stderr! }).on('line', (line) => output.push(line));
    readline.createInterface({ input: child.stdout! }).on('line', (line) => {
      output.push(line);
      if (!line.includes(`"${name} ready"`)) return;
      clearTimeout(timer);
      const ready = JSON.parse(line) as Record<string, unknown> & { port: number };
      resolve({ name, port: ready.port, ready, process: child, output, stop });
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited with ${code} before listening:\n${output.join('\n')}`));
    });
  });
}
