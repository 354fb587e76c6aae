// Runs the built `model` CLI as users do: a separate node process, exit code and output captured.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

const CLI = path.resolve(__dirname, '../dist/main.js');

export interface CliRun {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `node dist/main.js ...args`; `cwd` defaults to the test process's working directory. */
export function runCli(args: readonly string[], timeoutMs = 60000, cwd?: string): CliRun {
  if (!fs.existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npx nx run model-cli:build\` first`);
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: timeoutMs, ...(cwd === undefined ? {} : { cwd }) });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Exactly one line on stderr, `model: ` then a message matching `pattern`. */
export function expectOneLineError(r: CliRun, pattern: RegExp): void {
  const lines = r.stderr.trim().split('\n');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(/^model: /);
  expect(lines[0]).toMatch(pattern);
}

/** Unusable input: exit code 2, one `model: ` line matching `pattern`, nothing on stdout. */
export function expectRefused(r: CliRun, pattern: RegExp): void {
  expect({ status: r.status, stdout: r.stdout }).toEqual({ status: 2, stdout: '' });
  expectOneLineError(r, pattern);
}

/** Bad usage: exit code 2, `model: <message>` (its first line) then the usage on stderr, nothing on stdout. */
export function expectUsageError(r: CliRun, message: string | RegExp): void {
  expect({ status: r.status, stdout: r.stdout }).toEqual({ status: 2, stdout: '' });
  const first = r.stderr.split('\n')[0];
  expect(first).toMatch(/^model: /);
  if (typeof message === 'string') expect(first).toBe(`model: ${message}`);
  else expect(first).toMatch(message);
  // The usage follows the message (parseArgs' own messages may take more than one line).
  expect(r.stderr).toMatch(/\nusage:\n {2}model convert --input in\.onnx [^]*\n$/);
}

/** A directory's entries, hidden ones (staging files) included, sorted. */
export function listDir(dir: string): string[] {
  return fs.readdirSync(dir).sort();
}
