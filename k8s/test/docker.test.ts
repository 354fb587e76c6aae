// No Docker engine runs here, so docker/Dockerfile is checked against the workspace instead:
// every workspace manifest reaches `npm ci`, each image carries the built workspaces its app
// needs, runs as the uid the manifests expect, and the detector's entrypoint pins CPUs as
// documented (run here with a stand-in `node`).
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { renderOverlay } from '../src/render';
import { parseDockerfile, type Stage } from './support/dockerfile';
import { type Deployment, byKind, parseStream } from './support/manifests';

const ROOT = path.resolve(__dirname, '..', '..');
const DOCKERFILE = path.join(ROOT, 'docker', 'Dockerfile');
const ENTRYPOINT = path.join(ROOT, 'docker', 'detector-entrypoint.sh');

const { args, stages } = parseDockerfile(fs.readFileSync(DOCKERFILE, 'utf8'));
const stage = (name: string): Stage => {
  const s = stages.find((x) => x.name === name);
  if (!s) throw new Error(`no stage ${name}`);
  return s;
};
const copies = (s: Stage): Array<{ from?: string; src: string; dest: string }> =>
  s.instructions
    .filter((i) => i.op === 'COPY')
    .map((i) => {
      const parts = i.args.split(/\s+/);
      const from = parts.find((p) => p.startsWith('--from='))?.slice('--from='.length);
      const paths = parts.filter((p) => !p.startsWith('--'));
      return { from, src: paths.slice(0, -1).join(' '), dest: paths[paths.length - 1]! };
    });
const runs = (s: Stage): string => s.instructions.filter((i) => i.op === 'RUN').map((i) => i.args).join('\n');

/** npm workspaces of the root package.json: folder -> package name and @edge-ssd dependencies. */
function workspaces(): Map<string, { name: string; deps: string[] }> {
  const root = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { workspaces: string[] };
  const result = new Map<string, { name: string; deps: string[] }>();
  for (const pattern of root.workspaces) {
    const dirs = pattern.endsWith('/*')
      ? fs.readdirSync(path.join(ROOT, pattern.slice(0, -2)), { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => `${pattern.slice(0, -2)}/${e.name}`)
      : [pattern];
    for (const dir of dirs) {
      const file = path.join(ROOT, dir, 'package.json');
      if (!fs.existsSync(file)) continue;
      const pkg = JSON.parse(fs.readFileSync(file, 'utf8')) as { name: string; dependencies?: Record<string, string> };
      result.set(dir, { name: pkg.name, deps: Object.keys(pkg.dependencies ?? {}).filter((d) => d.startsWith('@edge-ssd/')) });
    }
  }
  return result;
}

/** Workspace folders an app needs at run time (itself and its @edge-ssd dependencies, transitively). */
function closure(appDir: string): string[] {
  const ws = workspaces();
  const byName = new Map([...ws].map(([dir, w]) => [w.name, dir]));
  const seen = new Set<string>();
  const visit = (dir: string) => {
    if (seen.has(dir)) return;
    seen.add(dir);
    for (const dep of ws.get(dir)!.deps) visit(byName.get(dep)!);
  };
  visit(appDir);
  return [...seen].sort();
}

/** Bare module names required by the compiled files of these workspaces. */
function requiredPackages(dirs: string[]): Set<string> {
  const found = new Set<string>();
  const walk = (dir: string) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.js')) {
        for (const m of fs.readFileSync(p, 'utf8').matchAll(/require\("([^"]+)"\)/g)) {
          const spec = m[1]!;
          if (spec.startsWith('.') || spec.startsWith('node:')) continue;
          found.add(spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!);
        }
      }
    }
  };
  for (const d of dirs) walk(path.join(ROOT, d, 'dist'));
  return found;
}

describe('docker/Dockerfile', () => {
  it('builds from the Debian-slim Node 20 image, compiling and installing on the build platform', () => {
    expect(args.NODE_IMAGE).toBe('node:20-bookworm-slim');
    for (const s of stages) expect(s.from === '${NODE_IMAGE}' || stages.some((x) => x.name === s.from)).toBe(true);
    for (const name of ['build', 'prod-deps']) expect(stage(name).platform).toBe('$BUILDPLATFORM');
    // The runtime images are of the target platform and only copy files (no emulated RUN).
    for (const name of ['detector', 'gateway']) {
      expect(stage(name).platform).toBeUndefined();
      expect(stage(name).from).toBe('${NODE_IMAGE}');
      expect(runs(stage(name))).toBe('');
    }
  });

  it('gives npm ci every workspace manifest', () => {
    const dirs = [...workspaces().keys()];
    expect(dirs.length).toBeGreaterThanOrEqual(8);
    for (const name of ['build', 'prod-deps']) {
      const copied = copies(stage(name)).map((c) => `${c.src} -> ${c.dest}`);
      for (const dir of dirs) expect(copied).toContain(`${dir}/package.json -> ${dir}/`);
      expect(copied).toContain('package.json package-lock.json .npmrc -> ./');
    }
    expect(runs(stage('build'))).toMatch(/npm ci --ignore-scripts/);
    expect(runs(stage('prod-deps'))).toMatch(/npm ci --omit=dev --ignore-scripts .*--os=linux --cpu="\$\{cpu\}" --libc=glibc/);
  });

  it.each([
    ['detector', 'apps/detector'],
    ['gateway', 'apps/gateway'],
  ])('puts every built workspace the %s needs into its image', (name, appDir) => {
    const copied = copies(stage(name));
    for (const dir of closure(appDir)) {
      // Each workspace's entry point (a library's index, an app's main) is built.
      const { main } = JSON.parse(fs.readFileSync(path.join(ROOT, dir, 'package.json'), 'utf8')) as { main: string };
      expect(fs.existsSync(path.join(ROOT, dir, main))).toBe(true);
      expect(copied).toContainEqual({ from: 'build', src: `/src/${dir}/dist/`, dest: `${dir}/dist/` });
    }
    // protos loads its .proto files at run time.
    expect(copied).toContainEqual({ from: 'build', src: '/src/protos/ssd/', dest: 'protos/ssd/' });
    expect(copied[0]).toEqual({ from: name === 'gateway' ? 'gateway-deps' : 'prod-deps', src: '/app/', dest: './' });
  });

  it('leaves out of the gateway only packages it never loads', () => {
    const removed = [...runs(stage('gateway-deps')).matchAll(/node_modules\/(@?[\w.-]+)/g)].map((m) => m[1]!);
    expect(removed).toEqual(expect.arrayContaining(['onnxruntime-node', 'sharp']));
    const needed = requiredPackages(closure('apps/gateway'));
    expect(needed.has('@grpc/grpc-js')).toBe(true); // the scan sees requires
    for (const r of removed) expect([r, needed.has(r)]).toEqual([r, false]);
  });

  it('starts each app from its built entry point, as the non-root uid of the manifests', () => {
    const detector = stage('detector').instructions;
    const gateway = stage('gateway').instructions;
    expect(detector.find((i) => i.op === 'ENTRYPOINT')?.args).toBe('["/app/docker/detector-entrypoint.sh"]');
    expect(gateway.find((i) => i.op === 'ENTRYPOINT')?.args).toBe('["node", "apps/gateway/dist/main.js"]');
    expect(fs.existsSync(path.join(ROOT, 'apps/gateway/dist/main.js'))).toBe(true);
    expect(fs.existsSync(path.join(ROOT, 'apps/detector/dist/main.js'))).toBe(true);
    expect(fs.readFileSync(ENTRYPOINT, 'utf8')).toContain('node apps/detector/dist/main.js');
    expect(fs.statSync(ENTRYPOINT).mode & 0o111).toBe(0o111);
    // The model command the init container runs is in the detector image, with what it needs.
    expect(copies(stage('detector'))).toContainEqual({ from: 'build', src: '/src/apps/model-cli/dist/', dest: 'apps/model-cli/dist/' });
    for (const dir of closure('apps/model-cli')) expect(copies(stage('detector'))).toContainEqual({ from: 'build', src: `/src/${dir}/dist/`, dest: `${dir}/dist/` });
    const users = ['detector', 'gateway'].map((n) => stage(n).instructions.filter((i) => i.op === 'USER').pop()?.args);
    expect(users).toEqual(['1000:1000', '1000:1000']);
    for (const d of byKind<Deployment>(parseStream(renderOverlay('amd64')), 'Deployment')) {
      const sc = d.spec.template.spec.securityContext!;
      expect(`${sc.runAsUser}:${sc.runAsGroup}`).toBe('1000:1000');
    }
  });

  it('has a .dockerignore that keeps host builds and modules out of the context, but not what the build copies', () => {
    const lines = fs.readFileSync(path.join(ROOT, '.dockerignore'), 'utf8').split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
    expect(lines).toEqual(expect.arrayContaining(['**/node_modules', '**/dist', '.git', '.arm64', 'models']));
    // Docker's rule: the last pattern matching a path (or one of its parent folders) decides.
    const toRegex = (glob: string): RegExp => {
      let re = '';
      for (let i = 0; i < glob.length; i++) {
        const ch = glob[i]!;
        if (glob.startsWith('**/', i)) {
          re += '(?:.*/)?';
          i += 2;
        } else if (glob.startsWith('**', i)) {
          re += '.*';
          i += 1;
        } else if (ch === '*') re += '[^/]*';
        else if (ch === '?') re += '[^/]';
        else re += ch.replace(/[.+^${}()|[\]\\]/, '\\$&');
      }
      return new RegExp(`^${re}$`);
    };
    const ignored = (file: string): boolean => {
      const prefixes = file.split('/').map((_, i, parts) => parts.slice(0, i + 1).join('/'));
      let result = false;
      for (const line of lines) {
        const negated = line.startsWith('!');
        const re = toRegex(negated ? line.slice(1) : line);
        if (prefixes.some((p) => re.test(p))) result = !negated;
      }
      return result;
    };
    expect(ignored('apps/detector/node_modules/x')).toBe(true);
    expect(ignored('bench/src/run.ts')).toBe(true);
    const sources = stages
      .filter((st) => st.name === 'build' || st.name === 'prod-deps' || st.name === 'detector' || st.name === 'gateway')
      .flatMap((st) => copies(st).filter((c) => !c.from).flatMap((c) => c.src.split(' ')));
    expect(sources.length).toBeGreaterThan(10);
    for (const src of sources) {
      const probe = src.endsWith('/') ? `${src}index.ts` : src;
      if (src.endsWith('/')) expect([src, ignored(`${src}package.json`)]).toEqual([src, false]);
      else expect([probe, ignored(probe)]).toEqual([probe, false]);
    }
    for (const dir of workspaces().keys()) expect([dir, ignored(`${dir}/package.json`)]).toEqual([dir, false]);
  });
});

describe('docker/detector-entrypoint.sh', () => {
  // A copy of the script beside a stand-in app whose `node` reports its affinity and arguments.
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'edge-ssd-entrypoint-'));
    fs.mkdirSync(path.join(dir, 'docker'));
    fs.mkdirSync(path.join(dir, 'bin'));
    fs.copyFileSync(ENTRYPOINT, path.join(dir, 'docker', 'detector-entrypoint.sh'));
    fs.chmodSync(path.join(dir, 'docker', 'detector-entrypoint.sh'), 0o755);
    fs.writeFileSync(path.join(dir, 'bin', 'node'), '#!/bin/sh\necho "node cwd=$(pwd) args=$* $(taskset -cp $$)"\n', { mode: 0o755 });
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  const run = (affinity: string | undefined): string => {
    const env: NodeJS.ProcessEnv = { PATH: `${path.join(dir, 'bin')}:${process.env.PATH}` };
    if (affinity !== undefined) env.DETECTOR_CPU_AFFINITY = affinity;
    return execFileSync(path.join(dir, 'docker', 'detector-entrypoint.sh'), ['--flag'], { cwd: os.tmpdir(), env, encoding: 'utf8' });
  };
  const allowed = execFileSync('taskset', ['-cp', String(process.pid)], { encoding: 'utf8' }).split(': ')[1]!.trim();
  const firstCpu = allowed.split(/[,-]/)[0]!;

  it('pins the detector to DETECTOR_CPU_AFFINITY when the CPUs are allowed', () => {
    const out = run(firstCpu);
    expect(out).toContain(`pinning the detector to CPUs ${firstCpu}`);
    expect(out).toMatch(new RegExp(`node cwd=${dir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} args=apps/detector/dist/main.js --flag .*current affinity list: ${firstCpu}\\n`));
  });

  it('runs unpinned, with a warning, when the CPUs are not allowed', () => {
    const out = run('1023');
    expect(out).toMatch(/"level":"warn".*cannot pin to CPUs 1023 \(allowed: [0-9,-]+\); running unpinned/);
    expect(out).toContain(`current affinity list: ${allowed}`);
  });

  it('runs unpinned and quietly without DETECTOR_CPU_AFFINITY', () => {
    const out = run(undefined);
    expect(out.trim().split('\n')).toHaveLength(1);
    expect(out).toContain(`args=apps/detector/dist/main.js --flag pid`);
  });
});
