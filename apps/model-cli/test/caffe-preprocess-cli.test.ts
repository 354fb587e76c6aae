// `model import-caffe --mean --scale --channel-order`: the preprocessing a deploy prototxt does not
// carry, written into the SSD spec, and the report saying which of it was assumed.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { specFromMetadata } from '@edge-ssd/ssd-core';
import { inspectModel } from '@edge-ssd/onnx-io';
import { tinySsdNet, writeCaffemodel } from '@edge-ssd/importers/testing';
import { tempDir } from '@edge-ssd/onnx-io/testing';
import { type CliRun, expectUsageError, runCli } from './helpers';

describe('model import-caffe preprocessing options', () => {
  let dir: string;
  let files: string[];

  beforeAll(() => {
    dir = tempDir('caffe-preprocess-cli');
    const fixture = tinySsdNet();
    const prototxt = path.join(dir, 'tiny.prototxt');
    const caffemodel = path.join(dir, 'tiny.caffemodel');
    fs.writeFileSync(prototxt, fixture.prototxt);
    fs.writeFileSync(caffemodel, writeCaffemodel(fixture.layers));
    files = ['--prototxt', prototxt, '--caffemodel', caffemodel, '--no-verify'];
  });
  afterAll(() => {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  const run = (name: string, ...extra: string[]): { r: CliRun; output: string } => {
    const output = path.join(dir, `${name}.onnx`);
    return { r: runCli(['import-caffe', ...files, '--output', output, ...extra]), output };
  };

  it("writes VGG16-SSD's mean 104/117/123 and scale 1 into the spec, as given", () => {
    const { r, output } = run('vgg', '--mean', '104,117,123', '--scale', '1', '--channel-order', 'BGR');
    expect([r.status, r.stderr]).toEqual([0, '']);
    expect(r.stdout).toContain('  preprocessing: BGR, mean 104/117/123, scale 1, as given');
    expect(specFromMetadata(inspectModel(fs.readFileSync(output)).metadata).input).toMatchObject({ channelOrder: 'BGR', mean: [104, 117, 123], scale: 1 });
  });

  it('says what it assumed for what is not given', () => {
    const none = run('none');
    expect(none.r.stdout).toContain("  preprocessing: BGR, mean 127.5/127.5/127.5, scale 0.007843, assumed (not given: mean, scale, channelOrder): chuanqi305 MobileNet-SSD's; a deploy prototxt does not carry it");
    const some = run('some', '--mean', '128', '--channel-order', 'RGB');
    expect(some.r.stdout).toContain('  preprocessing: RGB, mean 128/128/128, scale 0.007843, assumed (not given: scale)');
    expect(specFromMetadata(inspectModel(fs.readFileSync(some.output)).metadata).input).toMatchObject({ channelOrder: 'RGB', mean: [128, 128, 128] });
  });

  it('refuses malformed values', () => {
    expectUsageError(run('bad1', '--mean', '1,2').r, "--mean must be one number or three, comma-separated, got '1,2'");
    expectUsageError(run('bad2', '--scale', '0').r, "--scale must be a positive number, got '0'");
    expectUsageError(run('bad3', '--channel-order', 'GBR').r, '--channel-order must be one of BGR, RGB, got \'GBR\'');
  });
});
