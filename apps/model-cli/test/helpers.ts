// Runs the built `model` CLI as users do: a separate node process, exit code and output captured.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

export const CLI = path.resolve(__dirname, '../dist/main.js');

export interface CliRun {
  status: number | null;
  stdout: string;
  stderr: string;
}

export function runCli(args: readonly string[], timeoutMs = 60000): CliRun {
  if (!fs.existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npx nx run model-cli:build\` first`);
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: timeoutMs });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}
