// The README's curl examples of the HTTP API, run as a reader runs them (bash, curl) against a
// live gateway and detector serving the default face model, with the token the README uses. They
// must cover every endpoint, and the answer the README shows must be the one the gateway gives.
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { builtinModel, REPO_ROOT, startService, type RunningService } from '../src';

const ASTRONAUT = '/usr/lib/python3/dist-packages/skimage/data/astronaut.png';
const ENDPOINTS = ['/openapi.json', '/v1/detect', '/v1/model', '/v1/vision/detection', '/v1/vision/face'];

interface Example {
  command: string;
  /** The answer the README shows on the `# -> ` line after it, if any. */
  shown?: string;
}

/** The shell lines of the README's "HTTP API" section: variable assignments, and curl commands. */
function readmeExamples(): { preamble: string[]; examples: Example[] } {
  const readme = readFileSync(path.join(REPO_ROOT, 'README.md'), 'utf8');
  const section = /\n## HTTP API\n([\s\S]*?)\n## /.exec(readme)?.[1];
  if (!section) throw new Error('README.md has no "## HTTP API" section');
  const lines = [...section.matchAll(/```sh\n([\s\S]*?)```/g)].flatMap((m) => m[1]!.split('\n'));
  const preamble = lines.filter((l) => /^[A-Z_]+=/.test(l)).map((l) => l.replace(/\s+#.*$/, ''));
  const examples: Example[] = [];
  lines.forEach((line, i) => {
    if (!line.startsWith('curl ')) return;
    const next = lines[i + 1] ?? '';
    examples.push({ command: line, shown: next.startsWith('# -> ') ? next.slice('# -> '.length) : undefined });
  });
  return { preamble, examples };
}

const { preamble, examples } = readmeExamples();
const token = /^TOKEN=(\S+)/.exec(preamble.find((l) => l.startsWith('TOKEN=')) ?? '')?.[1];
const running: RunningService[] = [];
let httpPort: number;

beforeAll(async () => {
  if (!existsSync(ASTRONAUT)) throw new Error(`${ASTRONAUT} is missing: install Debian's python3-skimage (bash tools/test-deps.sh)`);
  const detector = await startService('detector', { MODEL_PATH: await builtinModel('faceapi-ssd-mobilenetv1'), DETECTOR_POOL_SIZE: '1' });
  running.push(detector);
  const gateway = await startService('gateway', {
    GATEWAY_HTTP_PORT: '0',
    GATEWAY_AUTH_TOKENS: token ?? '',
    DETECTOR_TARGET: `127.0.0.1:${detector.port}`,
  });
  running.push(gateway);
  httpPort = gateway.ready['httpPort'] as number;
}, 300_000);

afterAll(async () => {
  await Promise.all(running.map((s) => s.stop()));
});

async function run(example: Example): Promise<unknown> {
  const script = ['set -euo pipefail', ...preamble, example.command.replaceAll('localhost:8080', `127.0.0.1:${httpPort}`)].join('\n');
  const { stdout } = await promisify(execFile)('bash', ['-c', script], { maxBuffer: 8 * 1024 * 1024 });
  return JSON.parse(stdout) as unknown;
}

const endpointOf = (command: string): string => /localhost:8080(\/[^?' ]*)/.exec(command)?.[1] ?? '';

describe("the README's HTTP API examples", () => {
  it('show one curl command for each endpoint, with a token the gateway checks', () => {
    expect([...new Set(examples.map((e) => endpointOf(e.command)))].sort()).toEqual(ENDPOINTS);
    expect(token).toBeDefined();
  });

  it.each(examples.map((e) => [endpointOf(e.command), e] as const))('%s: runs and answers what the README says', async (endpoint, example) => {
    const answer = (await run(example)) as Record<string, unknown>;
    switch (endpoint) {
      case '/v1/vision/detection':
      case '/v1/vision/face': {
        expect(answer['success']).toBe(true);
        const predictions = answer['predictions'] as Array<Record<string, unknown>>;
        expect(predictions).toHaveLength(1);
        for (const k of ['x_min', 'y_min', 'x_max', 'y_max']) expect(Number.isInteger(predictions[0]![k])).toBe(true);
        expect(predictions[0]!['label']).toBe(endpoint === '/v1/vision/face' ? undefined : 'face');
        break;
      }
      case '/v1/detect':
        expect((answer['detections'] as Array<{ label: string }>).map((d) => d.label)).toEqual(['face']);
        break;
      case '/v1/model':
        expect(answer['name']).toBe('faceapi-ssd-mobilenetv1-512');
        break;
      default:
        expect(answer['openapi']).toMatch(/^3\./);
    }
    // The README's sample answer is the gateway's, but for the time it took.
    if (example.shown) {
      const shown = JSON.parse(example.shown) as Record<string, unknown>;
      expect({ ...answer, duration: 0 }).toEqual({ ...shown, duration: 0 });
    }
  });
});
