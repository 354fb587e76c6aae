// `model anatomy` as users run it, on the seeded MobileNet-SSD the CLI writes itself (unfused: its
// BatchNorms hold parameters of their own, the multiply-adds are the network's).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { decodeModel, encodeModel } from '@edge-ssd/onnx-io';
import { tempDir } from '@edge-ssd/onnx-io/testing';
import { type CliRun, expectRefused, expectUsageError, runCli } from './helpers';

const cli = (...args: string[]): CliRun => runCli(args);

describe('model anatomy', () => {
  let dir: string;
  let model: string;

  beforeAll(() => {
    dir = tempDir('anatomy-cli');
    model = path.join(dir, 'mobilenet-ssd.onnx');
    const r = cli('write-mobilenet-ssd', '--output', model);
    if (r.status !== 0) throw new Error(`write-mobilenet-ssd failed: ${r.stderr}`);
  });
  afterAll(() => {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('prints the heads, the cost split and, with --at, the cost factor at another input size', () => {
    const r = cli('anatomy', model, '--at', '512');
    expect([r.status, r.stderr]).toEqual([0, '']);
    const lines = r.stdout.split('\n');
    expect(lines[0]).toBe('anatomy: mobilenet-ssd-voc-300, input 300x300, 6 heads, 1917 priors');
    expect(lines[2]).toMatch(/^1 +conv11 +19x19 +512 +1x1 +3 +1083 +60 +- +2 +15\.7895 \(input\/map\) +0\.211$/);
    expect(r.stdout).toMatch(/^base network +3,228,864 +1,055,206,336$/m);
    expect(r.stdout).toContain('at 512x512: maps 32x32, 16x16, 8x8, 4x4, 2x2, 1x1; 5118 priors; smallest object 0.125 on the largest map');
    expect(r.stdout).toMatch(/^base network +2,966,028,288 +x2\.8109 +3,228,864 +x1\.0000$/m);
  });

  it('--json gives the same figures as data; --k changes the window', () => {
    const r = cli('anatomy', model, '--json', '--k', '2');
    expect(r.status).toBe(0);
    const a = JSON.parse(r.stdout);
    expect(a.k).toBe(2);
    expect(a.heads.map((h: { featureMap: number[] }) => h.featureMap[0])).toEqual([19, 10, 5, 3, 2, 1]);
    expect(a.heads[0].smallestObject[0]).toBeCloseTo(2 / 19, 12);
    expect(a.cost.total.macs).toBe(1_148_479_168);
    expect(a.at).toBeUndefined();
  });

  it('refuses bad usage and unusable files with one line', () => {
    expectUsageError(cli('anatomy'), 'anatomy needs a model file');
    expectUsageError(cli('anatomy', model, '--at', '1.5'), '--at must be a positive integer, got 1.5');
    const junk = path.join(dir, 'junk.onnx');
    fs.writeFileSync(junk, 'not a model');
    expectRefused(cli('anatomy', junk), /^model: model '.*junk\.onnx': /);
    const bare = path.join(dir, 'bare.onnx');
    fs.writeFileSync(bare, encodeModel({ ...decodeModel(fs.readFileSync(model)), metadata_props: [] }));
    expectRefused(cli('anatomy', bare), /^model: model '.*bare\.onnx': the model carries no usable SSD spec: model metadata has no "ssd\.spec" entry$/);
  });
});
