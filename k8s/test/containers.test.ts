// What a cluster would run, run here: no cluster (and no container engine) is available, but the
// containers' commands are. For each rendered overlay (and the own-model component) the detector
// pod's init containers and then its detector container are started from the rendered YAML's
// command/args/env (the image's ENTRYPOINT and ENV from docker/Dockerfile where the manifest sets
// none) against the built tree, which stands in for the image's /app, with a temporary directory
// standing in for each volume. Then the astronaut photo is sent to the detector, which must find
// her face, while each process's peak RSS stays within its container's memory limit.
//
// Only the listening ports are changed (to 0, so the test never collides with anything); a typo in
// a command, a path or a variable name fails here.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as readline from 'node:readline';
import * as grpc from '@grpc/grpc-js';
import { loadSsdPackage, type DetectResponse } from '@edge-ssd/protos';
import { unary } from '@edge-ssd/service-kit';
import { K8S_DIR, renderKustomization, renderOverlay } from '../src/render';
import { parseDockerfile } from './support/dockerfile';
import { type Container, type Deployment, containerEnv, find, parseStream, quantity, withTempKustomization, type K8sObject } from './support/manifests';

const ROOT = path.resolve(__dirname, '..', '..');
const ASTRONAUT = '/usr/lib/python3/dist-packages/skimage/data/astronaut.png';
const FACEAPI_MANIFEST = path.join(ROOT, 'node_modules/@vladmandic/face-api/model/ssd_mobilenetv1_model-weights_manifest.json');

const dockerfile = parseDockerfile(fs.readFileSync(path.join(ROOT, 'docker', 'Dockerfile'), 'utf8'));

/** The image's WORKDIR, ENV, ENTRYPOINT and CMD, from the Dockerfile stage its name's app builds. */
function image(ref: string): { workdir: string; env: Record<string, string>; entrypoint: string[]; cmd: string[] } {
  const app = /\/([\w-]+):[\w.-]+$/.exec(ref)?.[1];
  const stage = dockerfile.stages.find((s) => s.name === app);
  if (!stage) throw new Error(`no Dockerfile stage builds the image ${ref}`);
  const last = (op: string) => stage.instructions.filter((i) => i.op === op).pop()?.args;
  const env: Record<string, string> = {};
  for (const i of stage.instructions.filter((x) => x.op === 'ENV')) {
    for (const pair of i.args.split(/\s+/)) {
      const [k, ...v] = pair.split('=');
      env[k!] = v.join('=');
    }
  }
  const exec = (args: string | undefined) => (args === undefined ? [] : (JSON.parse(args) as string[]));
  return { workdir: last('WORKDIR') ?? '/', env, entrypoint: exec(last('ENTRYPOINT')), cmd: exec(last('CMD')) };
}

/** Maps paths inside the container to this machine: volume mounts to their stand-in folders, the image's workdir to the repo. */
function pathMapper(container: Container, volumes: Record<string, string>, workdir: string): (value: string) => string {
  const mounts = (container.volumeMounts ?? []).map((m) => ({ from: m.mountPath, to: volumes[m.name]! })).sort((a, b) => b.from.length - a.from.length);
  mounts.push({ from: workdir, to: ROOT });
  return (value) => {
    for (const { from, to } of mounts) {
      if (value === from) return to;
      if (value.startsWith(`${from}/`)) return path.join(to, value.slice(from.length + 1));
    }
    return value;
  };
}

interface Run {
  code: number | null;
  output: string[];
  /** Highest VmHWM seen (bytes); the process is sampled every 20 ms. */
  peakRss: number;
}

function peakOf(pid: number): number {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    return Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? 0) * 1024;
  } catch {
    return 0;
  }
}

/**
 * Starts a container's process. Resolves when it exits, or (with `until`) when it prints a line
 * containing that text, leaving it running.
 */
function runContainer(
  container: Container,
  objects: readonly K8sObject[],
  volumes: Record<string, string>,
  overrides: Record<string, string>,
  until?: string,
): Promise<Run & { stop?: () => Promise<Run> }> {
  const img = image(container.image);
  const map = pathMapper(container, volumes, img.workdir);
  const argv = [...(container.command ?? img.entrypoint), ...(container.args ?? (container.command ? [] : img.cmd))].map(map);
  const env: Record<string, string> = { PATH: process.env.PATH!, ...img.env };
  for (const [k, v] of Object.entries(containerEnv(container, objects))) env[k] = map(v);
  Object.assign(env, overrides);
  const child = spawn(argv[0]!, argv.slice(1), { cwd: map(img.workdir), env, stdio: ['ignore', 'pipe', 'pipe'] });
  const run: Run = { code: null, output: [], peakRss: 0 };
  const sampler = setInterval(() => (run.peakRss = Math.max(run.peakRss, peakOf(child.pid!))), 20);
  const exited = new Promise<Run>((resolve) =>
    child.once('exit', (code, signal) => {
      clearInterval(sampler);
      run.code = code ?? (signal ? 128 : null);
      resolve(run);
    }),
  );
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${container.name} did not ${until ? `print "${until}"` : 'finish'} within 240 s:\n${run.output.join('\n')}`));
    }, 240_000);
    const onLine = (line: string) => {
      run.output.push(line);
      if (until && line.includes(until)) {
        clearTimeout(timer);
        resolve({ ...run, stop: () => (child.kill('SIGTERM'), exited) });
      }
    };
    readline.createInterface({ input: child.stdout! }).on('line', onLine);
    readline.createInterface({ input: child.stderr! }).on('line', onLine);
    void exited.then((r) => {
      clearTimeout(timer);
      if (until) reject(new Error(`${container.name} exited with ${r.code} before printing "${until}":\n${r.output.join('\n')}`));
      else resolve(r);
    });
  });
}

const memoryLimit = (c: Container) => quantity(c.resources?.limits?.memory);

function ownModelRendering(overlay: string): string {
  return withTempKustomization(
    { 'kustomization.yaml': `resources: [k8s/overlays/${overlay}]\ncomponents: [k8s/components/own-model]\n` },
    K8S_DIR,
    (dir) => renderKustomization(dir),
  );
}

interface Variant {
  name: string;
  yaml: () => string;
  /** Fills the stand-in folder of a volume that is not an emptyDir (a user's own storage). */
  fill?: (volume: string, dir: string) => Promise<void>;
}

const VARIANTS: Variant[] = [
  { name: 'overlay amd64', yaml: () => renderOverlay('amd64') },
  { name: 'overlay arm64-rk3399', yaml: () => renderOverlay('arm64-rk3399') },
  {
    name: 'overlay arm64-rk3399 + components/own-model',
    yaml: () => ownModelRendering('arm64-rk3399'),
    // What k8s/README.md tells users to put on their claim: a model from `nx run bn-fuse:convert`
    // (here the face detector converted from its tfjs weights), named model.onnx.
    fill: async (volume, dir) => {
      if (volume !== 'models') throw new Error(`unexpected non-emptyDir volume ${volume}`);
      const converted = await runProcess(process.execPath, [path.join(ROOT, 'apps/model-cli/dist/main.js'), 'import-tfjs', '--tfjs-manifest', FACEAPI_MANIFEST, '--output', path.join(dir, 'model.onnx')]);
      if (converted.code !== 0) throw new Error(`model import-tfjs failed:\n${converted.output}`);
    },
  },
];

function runProcess(file: string, args: string[]): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(file, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    child.once('exit', (code) => resolve({ code, output }));
  });
}

beforeAll(() => {
  if (!fs.existsSync(ASTRONAUT)) throw new Error(`${ASTRONAUT} is missing: install Debian's python3-skimage (bash tools/test-deps.sh)`);
});

describe.each(VARIANTS.map((v) => [v.name, v] as const))('%s, run as its containers would run', (_name, variant) => {
  let objects: K8sObject[];
  let pod: Deployment['spec']['template']['spec'];
  const volumes: Record<string, string> = {};

  beforeAll(async () => {
    objects = parseStream(variant.yaml());
    pod = find<Deployment>(objects, 'Deployment', 'detector').spec.template.spec;
    for (const v of pod.volumes ?? []) {
      volumes[v.name] = fs.mkdtempSync(path.join(os.tmpdir(), `edge-ssd-volume-${v.name}-`));
      if (!v.emptyDir) await variant.fill!(v.name, volumes[v.name]!);
    }
  }, 300_000);

  afterAll(() => {
    for (const dir of Object.values(volumes)) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('runs the init containers, then the detector, which finds the astronaut\'s face, each within its memory limit', async () => {
    for (const init of pod.initContainers ?? []) {
      const run = await runContainer(init, objects, volumes, {});
      expect([init.name, run.code, run.output.join('\n')]).toEqual([init.name, 0, expect.any(String)]);
      expect([init.name, run.peakRss <= memoryLimit(init)]).toEqual([init.name, true]);
      console.log(`${variant.name}: init container ${init.name}: ${run.output.join(' | ')}; peak RSS ${(run.peakRss / 2 ** 20).toFixed(0)} MiB of ${(memoryLimit(init) / 2 ** 20).toFixed(0)} MiB`);
    }
    const detector = pod.containers.find((c) => c.name === 'detector')!;
    const running = await runContainer(detector, objects, volumes, { DETECTOR_PORT: '0', DETECTOR_METRICS_PORT: '0', DETECTOR_HOST: '127.0.0.1' }, '"detector ready"');
    try {
      const ready = JSON.parse(running.output.find((l) => l.includes('"detector ready"'))!) as { port: number; model: string };
      expect(ready.model).toBe('faceapi-ssd-mobilenetv1-512');
      const client = new (loadSsdPackage().Detector)(`127.0.0.1:${ready.port}`, grpc.credentials.createInsecure());
      try {
        const request = { images: [{ id: 'astronaut', encoded: fs.readFileSync(ASTRONAUT) }] };
        const response = await unary<DetectResponse>((done) => client.Detect(request, new grpc.Metadata(), { deadline: Date.now() + 60_000 }, done));
        const [result] = response.results;
        expect(result!.status!.code).toBe(grpc.status.OK);
        expect(result!.detections.map((d) => d.label)).toEqual(['face']);
        const { xmin, ymin, xmax, ymax } = result!.detections[0]!.pixelBox!;
        // Her face, in the upper middle of the 512x512 portrait (face-api: 0.965 at (181,73)-(264,175)).
        expect(result!.detections[0]!.score).toBeGreaterThan(0.9);
        expect([Math.abs(xmin - 181), Math.abs(ymin - 73), Math.abs(xmax - 264), Math.abs(ymax - 175)].every((d) => d <= 3)).toBe(true);
      } finally {
        client.close();
      }
    } finally {
      const stopped = await running.stop!();
      expect(stopped.code).toBe(0);
      expect(stopped.peakRss).toBeLessThanOrEqual(memoryLimit(detector));
      console.log(`${variant.name}: detector peak RSS ${(stopped.peakRss / 2 ** 20).toFixed(0)} MiB of ${(memoryLimit(detector) / 2 ** 20).toFixed(0)} MiB`);
    }
  }, 600_000);
});
