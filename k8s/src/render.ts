// Renders the kustomize overlays under k8s/overlays with `kubectl kustomize` (or a standalone
// `kustomize build`). `npm run k8s:render -- <overlay>` prints one overlay's YAML; the tests use
// the same functions.
//
// The manifests use kustomize v4+ syntax (directories in `resources`, `patches`). Debian 12's
// kubernetes-client package is kubectl 1.20, which embeds kustomize v2.0.3 and cannot build them:
// use kubectl 1.21 or newer, or set KUSTOMIZE to a kustomize v4+ binary.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

/** The k8s/ folder (this file is k8s/src/render.ts or k8s/dist/render.js). */
export const K8S_DIR = path.resolve(__dirname, '..');
export const OVERLAYS_DIR = path.join(K8S_DIR, 'overlays');

export function listOverlays(): string[] {
  return fs
    .readdirSync(OVERLAYS_DIR, { withFileTypes: true })
    .filter((e) => e.isDirectory() && fs.existsSync(path.join(OVERLAYS_DIR, e.name, 'kustomization.yaml')))
    .map((e) => e.name)
    .sort();
}

export interface Kustomizer {
  /** argv prefix; the kustomization directory is appended. */
  command: string[];
  /** kustomize version as reported, e.g. "v5.5.0". */
  version: string;
}

const MIN_KUSTOMIZE_MAJOR = 4;

function run(file: string, args: string[]): string | undefined {
  try {
    return execFileSync(file, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 60_000 });
  } catch {
    return undefined;
  }
}

function majorOf(version: string): number {
  const m = /v?(\d+)\./.exec(version);
  return m ? Number(m[1]) : 0;
}

let cached: Kustomizer | undefined;

/**
 * Finds a kustomize v4+: $KUSTOMIZE (a kustomize binary) if set, else `kubectl kustomize`
 * ($KUBECTL or kubectl on PATH), else `kustomize` on PATH. Throws with what was found otherwise.
 */
export function findKustomizer(env: NodeJS.ProcessEnv = process.env): Kustomizer {
  if (cached) return cached;
  const tried: string[] = [];
  const candidates: Array<{ file: string; build: string[]; versionArgs: string[]; parse: (out: string) => string | undefined }> = [];
  const kustomizeVersion = (out: string): string | undefined => /v\d+\.\d+\.\d+/.exec(out)?.[0];
  if (env.KUSTOMIZE) {
    candidates.push({ file: env.KUSTOMIZE, build: ['build'], versionArgs: ['version'], parse: kustomizeVersion });
  } else {
    candidates.push({
      file: env.KUBECTL || 'kubectl',
      build: ['kustomize'],
      versionArgs: ['version', '--client', '-o', 'json'],
      parse: (out) => {
        try {
          return (JSON.parse(out) as { kustomizeVersion?: string }).kustomizeVersion;
        } catch {
          return undefined;
        }
      },
    });
    candidates.push({ file: 'kustomize', build: ['build'], versionArgs: ['version'], parse: kustomizeVersion });
  }
  for (const c of candidates) {
    const out = run(c.file, c.versionArgs);
    if (out === undefined) {
      tried.push(`${c.file}: not found or failed`);
      continue;
    }
    const version = c.parse(out);
    if (!version || majorOf(version) < MIN_KUSTOMIZE_MAJOR) {
      tried.push(`${c.file}: kustomize ${version ?? 'version unknown'} (too old)`);
      continue;
    }
    cached = { command: [c.file, ...c.build], version };
    return cached;
  }
  throw new Error(
    `no kustomize v${MIN_KUSTOMIZE_MAJOR}+ found (${tried.join('; ')}). Install kubectl 1.21 or newer, ` +
      `or set KUSTOMIZE to a kustomize binary. Debian 12's kubernetes-client (kubectl 1.20, kustomize v2.0.3) is too old.`,
  );
}

/** Renders the kustomization in `dir` and returns the YAML stream. */
export function renderKustomization(dir: string): string {
  const { command } = findKustomizer();
  try {
    return execFileSync(command[0], [...command.slice(1), dir], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 * 1024 * 1024 });
  } catch (error) {
    const stderr = (error as { stderr?: string }).stderr ?? '';
    throw new Error(`${command.join(' ')} ${dir} failed: ${stderr.trim() || (error as Error).message}`);
  }
}

export function renderOverlay(name: string): string {
  const overlays = listOverlays();
  if (!overlays.includes(name)) throw new Error(`unknown overlay '${name}' (overlays: ${overlays.join(', ')})`);
  return renderKustomization(path.join(OVERLAYS_DIR, name));
}

export function main(argv: readonly string[]): number {
  const overlays = listOverlays();
  const usage = `usage: npm run k8s:render -- <overlay>\noverlays: ${overlays.join(', ')}`;
  if (argv.length !== 1 || argv[0] === '--help' || argv[0] === '-h') {
    console.error(usage);
    return argv.length === 1 ? 0 : 2;
  }
  try {
    process.stdout.write(renderOverlay(argv[0]));
    return 0;
  } catch (error) {
    console.error(`k8s:render: ${(error as Error).message}`);
    return 1;
  }
}

if (require.main === module) {
  process.exitCode = main(process.argv.slice(2));
}
