// `bn-fuse convert --prototxt ... --caffemodel ...` as users run it (node dist/cli.js; the test
// target builds first): a successful conversion, and every class of unusable input ending with one
// clear line on stderr, exit code 2 and no output file.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { specFromMetadata } from '@edge-ssd/ssd-core';
import { inspectModel } from '@edge-ssd/onnx-io';
import { writeCaffemodel } from '@edge-ssd/importers/testing';
import { CaffeLayerData } from '@edge-ssd/importers/testing';
import { tinySsdNet } from '@edge-ssd/importers/testing';
import { tempDir } from '@edge-ssd/onnx-io/testing';
import { CLI } from './helpers'; // FIXME

function cli(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 60000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('bn-fuse convert --prototxt/--caffemodel', () => {
  let dir: string;
  let prototxt: string;
  let caffemodel: string;
  const fixture = tinySsdNet();

  beforeAll(() => {
    if (!fs.existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npx nx run bn-fuse:build\` first`);
    dir = tempDir('caffe-cli');
    prototxt = path.join(dir, 'tiny.prototxt');
    caffemodel = path.join(dir, 'tiny.caffemodel');
    fs.writeFileSync(prototxt, fixture.prototxt);
    fs.writeFileSync(caffemodel, writeCaffemodel(fixture.layers));
  });
  afterAll(() => {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  function write(name: string, data: string | Uint8Array): string {
    const file = path.join(dir, name);
    fs.writeFileSync(file, data);
    return file;
  }

  /** Runs convert expecting exit code 2, one `bn-fuse: ` line matching `pattern`, and no output. */
  function expectRefused(args: { prototxt?: string; caffemodel?: string; extra?: string[] }, pattern: RegExp): void {
    const output = path.join(dir, `refused-${Math.random().toString(36).slice(2)}.onnx`);
    const r = cli('convert', '--prototxt', args.prototxt ?? prototxt, '--caffemodel', args.caffemodel ?? caffemodel, '--output', output, ...(args.extra ?? []));
    const lines = r.stderr.trim().split('\n');
    expect({ status: r.status, lines: lines.length, stdout: r.stdout }).toEqual({ status: 2, lines: 1, stdout: '' });
    expect(lines[0]).toMatch(/^bn-fuse: /);
    expect(lines[0]).toMatch(pattern);
    expect(fs.existsSync(output)).toBe(false);
    expect(fs.readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  }

  it('converts, prints the summary, and writes the folded model, the unfused model and the report', () => {
    const labels = write('labels.txt', 'background\ncat\n\ndog\r\ncow\n');
    const output = path.join(dir, 'tiny.onnx');
    const unfused = path.join(dir, 'tiny.unfused.onnx');
    const report = path.join(dir, 'report.json');
    const r = cli('convert', `--prototxt=${prototxt}`, '--caffemodel', caffemodel, '--output', output, '--labels', labels, '--unfused-output', unfused, '--report', report);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain(`bn-fuse convert: ${prototxt} + ${caffemodel} -> ${output}`);
    expect(r.stdout).toContain('BatchNorm+Scale pairs 3, BatchNorm alone 0, Scale alone 0');
    expect(r.stdout).toContain('ssd.spec: 1392 priors from 2 PriorBox heads (12x16, 6x8), 4 classes (background, cat, dog, cow), background 0');
    expect(r.stdout).toContain('BatchNormalization: 3 found, 3 folded, 0 left');
    expect(r.stdout).toMatch(/verify: OK: /);
    const info = inspectModel(fs.readFileSync(output));
    expect(info.batchNormCount).toBe(0);
    expect(specFromMetadata(info.metadata).labels).toEqual(['background', 'cat', 'dog', 'cow']);
    expect(inspectModel(fs.readFileSync(unfused)).batchNormCount).toBe(3);
    const json = JSON.parse(fs.readFileSync(report, 'utf8'));
    expect(json.report.batchNormFolded).toBe(3);
    expect(json.caffe.batchNormScalePairs).toBe(3);
    expect(json.outputPath).toBe(output);
  });

  it('accepts --verify=false (how nx forwards --no-verify)', () => {
    const output = path.join(dir, 'noverify.onnx');
    const r = cli('convert', '--prototxt', prototxt, '--caffemodel', caffemodel, '--output', output, '--verify=false');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('verify: skipped (--no-verify)');
    expect(fs.existsSync(output)).toBe(true);
  });

  it('refuses an unknown layer type, naming the layer and its prototxt line', () => {
    const text = fixture.prototxt.replace(/(layer \{\n {2}name: "c2\/relu"\n {2}type: )"ReLU"/, '$1"Swish"');
    const line = text.slice(0, text.indexOf('name: "c2/relu"')).split('\n').length - 1;
    const bad = write('unknown.prototxt', text);
    expectRefused({ prototxt: bad }, new RegExp(`^bn-fuse: ${bad.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:${line}: layer 'c2/relu' has type 'Swish', which the Caffe importer does not support \\(supported: `));
  });

  it('refuses a caffemodel without the weights of a layer', () => {
    const weights = write('missing.caffemodel', writeCaffemodel(fixture.layers.filter((l) => l.name !== 'c2/bn')));
    expectRefused({ caffemodel: weights }, /:\d+: layer 'c2\/bn' \(BatchNorm\): the caffemodel '.*missing\.caffemodel' has no weights for this layer$/);
  });

  it('refuses a weight blob whose shape does not match the prototxt', () => {
    const layers: CaffeLayerData[] = fixture.layers.map((l) => (l.name === 'c3' ? { ...l, blobs: [{ shape: [16, 16, 1, 9], data: l.blobs[0].data }] } : l));
    const weights = write('shape.caffemodel', writeCaffemodel(layers));
    expectRefused({ caffemodel: weights }, /layer 'c3' \(Convolution\): weight blob 0 \(weight\) in the caffemodel has shape \[16, 16, 1, 9\], but the prototxt implies \[16, 16, 3, 3\]$/);
  });

  it('refuses a truncated caffemodel', () => {
    const bytes = writeCaffemodel(fixture.layers);
    const weights = write('truncated.caffemodel', bytes.subarray(0, Math.floor(bytes.length * 0.6)));
    expectRefused({ caffemodel: weights }, /^bn-fuse: caffemodel '.*truncated\.caffemodel' is truncated or corrupt: /);
  });

  it('refuses a prototxt with a syntax error, giving line and column', () => {
    const bad = write('syntax.prototxt', fixture.prototxt.replace('type: "Permute"', 'type: "Permute"\n  permute_param { order: 0 order 2 }'));
    const line = fs.readFileSync(bad, 'utf8').split('\n').findIndex((l) => l.includes('order 2')) + 1;
    expectRefused({ prototxt: bad }, new RegExp(`syntax\\.prototxt:${line}:34: syntax error: expected ':' or '\\{' after field name 'order', got '2'$`));
  });

  it('refuses missing files, a labels file of the wrong length, and bad usage', () => {
    expectRefused({ caffemodel: path.join(dir, 'nope.caffemodel') }, /cannot read caffemodel '.*nope\.caffemodel': no such file$/);
    expectRefused({ prototxt: path.join(dir, 'nope.prototxt') }, /cannot read prototxt '.*nope\.prototxt': no such file$/);
    expectRefused({ extra: ['--labels', write('short.txt', 'a\nb\n')] }, /layer 'detection_out' \(DetectionOutput\): 2 labels were given for num_classes 4$/);
    expectRefused({ caffemodel: prototxt }, /caffemodel '.*tiny\.prototxt' (is truncated or corrupt|holds no layers)/);
    const usage = cli('convert', '--prototxt', prototxt, '--output', path.join(dir, 'x.onnx'));
    expect(usage.status).toBe(2);
    expect(usage.stderr).toMatch(/^bn-fuse: --caffemodel is required\nusage:\n {2}bn-fuse convert --prototxt /);
    const overwrite = cli('convert', '--prototxt', prototxt, '--caffemodel', caffemodel, '--output', caffemodel);
    expect(overwrite.status).toBe(2);
    expect(overwrite.stderr).toMatch(/refusing to overwrite it/);
  });

  it('the main usage text lists the Caffe form', () => {
    const r = cli('--help');
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('bn-fuse convert --prototxt deploy.prototxt --caffemodel weights.caffemodel --output out.onnx [--labels labels.txt]');
  });
});
