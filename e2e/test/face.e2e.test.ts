import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import sharp from 'sharp';
import { loadSsdPackage, type DetectResponse } from '@edge-ssd/protos';
import { builtinModel, modelInfoOf, REPO_ROOT, startService, type RunningService } from '../src';

// NASA's public-domain astronaut portrait, shipped by Debian's python3-skimage.
const ASTRONAUT = '/usr/lib/python3/dist-packages/skimage/data/astronaut.png';

let detector: RunningService;
let gateway: RunningService;
let dir: string;

beforeAll(async () => {
  if (!existsSync(ASTRONAUT)) throw new Error(`${ASTRONAUT} is missing: install Debian's python3-skimage (bash tools/test-deps.sh)`);
  dir = await mkdtemp(path.join(tmpdir(), 'edge-ssd-face-'));
  // What `npm start` runs: the built-in default model, nothing configured.
  detector = await startService('detector', { MODEL_PATH: await builtinModel('faceapi-ssd-mobilenetv1') });
  gateway = await startService('gateway', { DETECTOR_TARGET: `127.0.0.1:${detector.port}` });
}, 300_000);

afterAll(async () => {
  await gateway?.stop();
  await detector?.stop();
  await rm(dir, { recursive: true, force: true });
});

describe('the default model: face-api SSD-MobileNetV1, imported and folded on first start', () => {
  it('describes itself: 512x512 letterbox input, 5118 table priors, face labels, BatchNorms folded', async () => {
    const client = new (loadSsdPackage().Gateway)(`127.0.0.1:${gateway.port}`, grpc.credentials.createInsecure());
    try {
      const info = await modelInfoOf(client);
      expect(info).toMatchObject({ name: 'faceapi-ssd-mobilenetv1-512', inputWidth: 512, inputHeight: 512, labels: ['background', 'face'], bnFused: true, numPriors: 5118, precision: 'fp32' });
    } finally {
      client.close();
    }
  });

  it('finds the astronaut\'s face with the CLI, and draws it', async () => {
    const photo = path.join(dir, 'astronaut.jpg');
    await sharp(ASTRONAUT).jpeg({ quality: 95 }).toFile(photo);
    const { stdout } = await promisify(execFile)(process.execPath, [
      path.join(REPO_ROOT, 'apps/client/dist/main.js'),
      '--target',
      `127.0.0.1:${gateway.port}`,
      '--annotate',
      path.join(dir, 'out'),
      photo,
    ]);
    const [result] = (JSON.parse(stdout) as DetectResponse).results;
    expect(result!.status!.code).toBe(grpc.status.OK);
    expect([result!.width, result!.height]).toEqual([512, 512]);
    expect(result!.detections).toHaveLength(1);
    const face = result!.detections[0]!;
    expect(face.label).toBe('face');
    expect(face.score).toBeGreaterThan(0.9);
    // Her face sits in the upper middle of the portrait, about a quarter of its width.
    const { xmin, ymin, xmax, ymax } = face.pixelBox!;
    expect((xmin + xmax) / 2).toBeGreaterThan(150);
    expect((xmin + xmax) / 2).toBeLessThan(300);
    expect((ymin + ymax) / 2).toBeLessThan(220);
    expect(xmax - xmin).toBeGreaterThan(60);
    expect(xmax - xmin).toBeLessThan(200);
    expect(existsSync(path.join(dir, 'out', 'astronaut.jpg'))).toBe(true);
    console.log(`astronaut: ${JSON.stringify(face)}`);
  });
});
