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

/** The images: runtime stage, its production-deps stage and the app workspace it runs. */
const IMAGES = [
  { image: 'detector', deps: 'detector-deps', app: 'apps/detector' },
  { image: 'gateway', deps: 'gateway-deps', app: 'apps/gateway' },
  { image: 'models', deps: 'models-deps', app: 'apps/model-cli' },
] as const;

/** The model tooling: none of it may reach a serving image. */
const TOOLING = ['libs/bn-fuse', 'libs/importers', 'libs/convert', 'libs/model-zoo', 'apps/model-cli'];

describe('docker/Dockerfile', () => {
  it('builds from the Debian-slim Node 20 image, compiling and installing on the build platform', () => {
    expect(args.NODE_IMAGE).toBe('node:20-bookworm-slim');
    for (const s of stages) expect(s.from === '${NODE_IMAGE}' || stages.some((x) => x.name === s.from)).toBe(true);
    for (const name of ['manifests', 'build', ...IMAGES.map((i) => i.deps)]) expect(stage(name).platform).toBe('$BUILDPLATFORM');
    // The runtime images are of the target platform and only copy files (no emulated RUN).
    for (const { image } of IMAGES) {
      expect(stage(image).platform).toBeUndefined();
      expect(stage(image).from).toBe('${NODE_IMAGE}');
      expect(runs(stage(image))).toBe('');
    }
  });

  it('finds the workspace manifests instead of listing them, and every install reads that one set', () => {
    // No stage names a workspace's package.json: adding a workspace needs no Dockerfile change.
    for (const s of stages) for (const c of copies(s)) expect([s.name, c.src]).not.toEqual([s.name, expect.stringMatching(/\/package\.json$/)]);
    for (const name of ['build', ...IMAGES.map((i) => i.deps)]) expect(copies(stage(name))).toContainEqual({ from: 'manifests', src: '/manifests/', dest: './' });
    // Run the manifests stage's collection over this checkout: it must yield exactly the root files
    // and every workspace's package.json.
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'edge-ssd-manifests-'));
    try {
      execFileSync('sh', ['-c', runs(stage('manifests')).replaceAll('/manifests', out)], { cwd: ROOT });
      const found: string[] = [];
      const walk = (dir: string) => {
        for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
          if (e.isDirectory()) walk(path.join(dir, e.name));
          else found.push(path.relative(out, path.join(dir, e.name)));
        }
      };
      walk(out);
      const expected = ['.npmrc', 'package-lock.json', 'package.json', ...[...workspaces().keys()].map((d) => `${d}/package.json`)];
      // The checkout may hold package.json files in ignored folders (test fixtures, .arm64): the
      // build context leaves those out, so compare what the context would hold.
      expect(found.filter((f) => !f.includes('/test/') && !f.startsWith('.arm64/') && !f.startsWith('k8s/') && !f.startsWith('tools/')).sort()).toEqual(expected.sort());
    } finally {
      fs.rmSync(out, { recursive: true, force: true });
    }
    expect(runs(stage('build'))).toMatch(/npm ci --ignore-scripts/);
  });

  it.each(IMAGES)('gives the $image image exactly the built workspaces its app needs', ({ image, deps, app }) => {
    expect(runs(stage(deps))).toBe(`install-prod-deps.sh ${app} "\${TARGETARCH}"`);
    const copied = copies(stage(image));
    expect(copied[0]).toEqual({ from: deps, src: '/app/', dest: './' });
    const dists = copied.filter((c) => c.from === 'build' && c.src.endsWith('/dist/')).map((c) => c.dest.replace(/\/dist\/$/, ''));
    expect(dists.sort()).toEqual(closure(app));
    for (const dir of closure(app)) {
      // Each workspace's entry point (a library's index, an app's main) is built.
      const { main } = JSON.parse(fs.readFileSync(path.join(ROOT, dir, 'package.json'), 'utf8')) as { main: string };
      expect(fs.existsSync(path.join(ROOT, dir, main))).toBe(true);
    }
    // protos loads its .proto files at run time.
    if (closure(app).includes('protos')) expect(copied).toContainEqual({ from: 'build', src: '/src/protos/ssd/', dest: 'protos/ssd/' });
  });

  // What the deps stages install, run here for this machine's architecture from npm's cache (the
  // same command, with npm offline): the image's node_modules must hold every package its built
  // code requires, link only its app's workspaces, and carry one onnxruntime binary.
  describe.each(IMAGES)('the $image image node_modules', ({ app }) => {
    let dir: string;
    beforeAll(() => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'edge-ssd-image-'));
      for (const rel of ['package.json', 'package-lock.json', '.npmrc', ...[...workspaces().keys()].map((d) => `${d}/package.json`)]) {
        fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
        fs.copyFileSync(path.join(ROOT, rel), path.join(dir, rel));
      }
      const arch = process.arch === 'arm64' ? 'arm64' : 'amd64';
      execFileSync(path.join(ROOT, 'docker', 'install-prod-deps.sh'), [app, arch], { cwd: dir, env: { ...process.env, npm_config_offline: 'true' }, stdio: 'pipe' });
    }, 300000);
    afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

    it('links exactly its app and the workspaces that app depends on', () => {
      const linked = fs.readdirSync(path.join(dir, 'node_modules', '@edge-ssd')).map((n) => `@edge-ssd/${n}`).sort();
      const ws = workspaces();
      expect(linked).toEqual(closure(app).map((d) => ws.get(d)!.name).sort());
    });

    it('holds every package its built code requires', () => {
      const missing = [...requiredPackages(closure(app))].filter((pkg) => !pkg.startsWith('@edge-ssd/') && !fs.existsSync(path.join(dir, 'node_modules', pkg, 'package.json')));
      expect(missing).toEqual([]);
    });

    it('carries onnxruntime for this one platform, and only where the app runs models', () => {
      const ort = path.join(dir, 'node_modules', 'onnxruntime-node', 'bin', 'napi-v6');
      if (app === 'apps/gateway') {
        expect(fs.existsSync(ort)).toBe(false);
        expect(fs.existsSync(path.join(dir, 'node_modules', 'sharp'))).toBe(false);
      } else {
        expect(fs.readdirSync(ort)).toEqual(['linux']);
        expect(fs.readdirSync(path.join(ort, 'linux'))).toEqual([process.arch]);
      }
      // The face-api weights are the models image's input, never a serving image's.
      expect(fs.existsSync(path.join(dir, 'node_modules', '@vladmandic', 'face-api'))).toBe(app === 'apps/model-cli');
    });
  });

  it('ships the demo page with the gateway, from where its built server reads it', () => {
    const copied = copies(stage('gateway'));
    expect(copied).toContainEqual({ from: 'build', src: '/src/apps/gateway/static/', dest: 'apps/gateway/static/' });
    // The build stage has the whole apps/ folder, so the page is there to copy.
    expect(copies(stage('build'))).toContainEqual({ from: undefined, src: 'apps/', dest: 'apps/' });
    expect(fs.readdirSync(path.join(ROOT, 'apps', 'gateway', 'static')).sort()).toEqual(['app.js', 'index.html', 'style.css']);
    // main.js (in dist/) reads ../static: the same layout in the image as here.
    expect(fs.readFileSync(path.join(ROOT, 'apps', 'gateway', 'src', 'main.ts'), 'utf8')).toContain("path.join(__dirname, '..', 'static')");
  });

  it('keeps the model tooling out of the serving images', () => {
    for (const app of ['apps/detector', 'apps/gateway']) expect(closure(app).filter((d) => TOOLING.includes(d))).toEqual([]);
    expect(closure('apps/model-cli')).toEqual(expect.arrayContaining(TOOLING));
  });

  it('starts each image from its built entry point, as the non-root uid of the manifests', () => {
    const entrypoint = (name: string) => stage(name).instructions.find((i) => i.op === 'ENTRYPOINT')?.args;
    expect(entrypoint('detector')).toBe('["/app/docker/detector-entrypoint.sh"]');
    expect(entrypoint('gateway')).toBe('["node", "apps/gateway/dist/main.js"]');
    expect(entrypoint('models')).toBe('["node", "apps/model-cli/dist/main.js"]');
    for (const main of ['apps/gateway/dist/main.js', 'apps/detector/dist/main.js', 'apps/model-cli/dist/main.js']) expect(fs.existsSync(path.join(ROOT, main))).toBe(true);
    expect(fs.readFileSync(ENTRYPOINT, 'utf8')).toContain('node apps/detector/dist/main.js');
    expect(fs.statSync(ENTRYPOINT).mode & 0o111).toBe(0o111);
    const users = IMAGES.map(({ image }) => stage(image).instructions.filter((i) => i.op === 'USER').pop()?.args);
    expect(users).toEqual(['1000:1000', '1000:1000', '1000:1000']);
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
      .flatMap((st) => copies(st).filter((c) => !c.from && c.src !== '.').flatMap((c) => c.src.split(' ')));
    expect(sources.length).toBeGreaterThan(5);
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
