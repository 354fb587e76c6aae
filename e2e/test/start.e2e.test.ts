// The README's command for several detectors on one host, run as a reader runs it:
// `DETECTORS=3 npm start` (ports set to 0 so the test never collides with anything).
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import * as readline from 'node:readline';
import * as grpc from '@grpc/grpc-js';
import sharp from 'sharp';
import { loadSsdPackage } from '@edge-ssd/protos';
import { detectCall, jpegs, metricValue, REPO_ROOT, scrapeMetrics } from '../src';

const ASTRONAUT = '/usr/lib/python3/dist-packages/skimage/data/astronaut.png';

interface Ready {
  gatewayPort: number;
  detectors: Array<{ target: string; metricsPort: number }>;
}

let npm: ChildProcess;
const output: string[] = [];
let ready: Ready;

beforeAll(async () => {
  if (!existsSync(ASTRONAUT)) throw new Error(`${ASTRONAUT} is missing: install Debian's python3-skimage (bash tools/test-deps.sh)`);
  // A process group of its own, so the test can stop npm, the script and everything they started.
  npm = spawn('npm', ['start'], {
    cwd: REPO_ROOT,
    env: { ...process.env, DETECTORS: '3', GATEWAY_PORT: '0', GATEWAY_METRICS_PORT: '0', GATEWAY_HTTP_PORT: '0', DETECTOR_PORT: '0' },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  readline.createInterface({ input: npm.stderr! }).on('line', (line) => output.push(line));
  ready = await new Promise<Ready>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`npm start was not ready within 240 s:\n${output.join('\n')}`)), 240_000);
    npm.once('exit', (code) => reject(new Error(`npm start exited with ${code}:\n${output.join('\n')}`)));
    readline.createInterface({ input: npm.stdout! }).on('line', (line) => {
      output.push(line);
      if (!line.includes('"edge-ssd ready"')) return;
      clearTimeout(timer);
      resolve(JSON.parse(line) as Ready);
    });
  });
}, 300_000);

afterAll(async () => {
  if (!npm || npm.exitCode !== null) return;
  const exited = new Promise((resolve) => npm.once('exit', resolve));
  process.kill(-npm.pid!, 'SIGTERM');
  await exited;
});

describe('DETECTORS=3 npm start', () => {
  it('builds once, makes the model once, and starts three detectors behind one gateway', () => {
    expect(ready.detectors).toHaveLength(3);
    expect(new Set(ready.detectors.map((d) => d.target)).size).toBe(3);
    expect(new Set(ready.detectors.map((d) => d.metricsPort)).size).toBe(3);
    expect(output.filter((line) => line.startsWith('model prepare: faceapi-ssd-mobilenetv1'))).toHaveLength(1);
    expect(output.filter((line) => line.includes('"detector ready"') && line.includes('"service":"detector"'))).toHaveLength(3);
  });

  it('serves one batch through the gateway, spread over all three detectors, and finds the astronaut', async () => {
    const astronaut = await sharp(ASTRONAUT).jpeg().toBuffer();
    const images = [astronaut, ...(await jpegs(23, 320, 240))].map((data) => ({ encoded: data }));
    const client = new (loadSsdPackage().Gateway)(`127.0.0.1:${ready.gatewayPort}`, grpc.credentials.createInsecure());
    try {
      const response = await detectCall(client, { images }, { deadline: Date.now() + 120_000 });
      expect(response.results).toHaveLength(24);
      expect(response.results.map((r) => r.status!.code)).toEqual(Array(24).fill(grpc.status.OK));
      expect(response.results[0]!.detections.map((d) => d.label)).toEqual(['face']);
    } finally {
      client.close();
    }
    const served = await Promise.all(ready.detectors.map(async (d) => metricValue(await scrapeMetrics(d.metricsPort), 'detector_images_total', { code: 'OK' })));
    expect(served.reduce((a, b) => a + b, 0)).toBe(24);
    for (const n of served) expect(n).toBeGreaterThan(0);
  });
});
