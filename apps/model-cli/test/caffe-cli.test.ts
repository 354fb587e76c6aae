// `model convert --prototxt ... --caffemodel ...` and `model import-caffe` as users run them (node
// dist/main.js; the test target builds first): a successful conversion, the report, and every class
// of unusable input ending with one clear line on stderr, exit code 2 and nothing written. The
// import itself against OpenCV: libs/convert/test/caffe-opencv.test.ts.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { specFromMetadata } from '@edge-ssd/ssd-core';
import { inspectModel } from '@edge-ssd/onnx-io';
import { type CaffeLayerData, tinySsdNet, writeCaffemodel } from '@edge-ssd/importers/testing';
import { tempDir } from '@edge-ssd/onnx-io/testing';
import { type CliRun, expectOneLineError, expectRefused, expectUsageError, listDir, runCli } from './helpers';

const cli = (...args: string[]): CliRun => runCli(args);
const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

describe('model convert --prototxt/--caffemodel, model import-caffe', () => {
  let dir: string;
  let prototxt: string;
  let caffemodel: string;
  const fixture = tinySsdNet();

  beforeAll(() => {
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

  /** Runs convert expecting exit code 2, one `model: ` line matching `pattern`, and nothing written. */
  function expectConvertRefused(args: { prototxt?: string; caffemodel?: string; extra?: string[] }, pattern: RegExp): void {
    const output = path.join(dir, `refused-${Math.random().toString(36).slice(2)}.onnx`);
    const before = listDir(dir);
    const r = cli('convert', '--prototxt', args.prototxt ?? prototxt, '--caffemodel', args.caffemodel ?? caffemodel, '--output', output, ...(args.extra ?? []));
    expectRefused(r, pattern);
    // Neither the output nor a staging file.
    expect(listDir(dir)).toEqual(before);
  }

  it('converts, prints the report, and writes the folded model, the unfused model and the JSON report', () => {
    const labels = write('labels.txt', 'background\ncat\n\ndog\r\ncow\n');
    const output = path.join(dir, 'tiny.onnx');
    const unfused = path.join(dir, 'tiny.unfused.onnx');
    const report = path.join(dir, 'report.json');
    const r = cli('convert', `--prototxt=${prototxt}`, '--caffemodel', caffemodel, '--output', output, '--labels', labels, '--unfused-output', unfused, '--report', report);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout.split('\n')[0]).toBe(`convert: ${prototxt} + ${caffemodel} -> ${output}`);
    expect(r.stdout).toContain("  caffe: net 'tiny-ssd', ");
    expect(r.stdout).toContain('BatchNorm+Scale pairs 3, BatchNorm alone 0, Scale alone 0');
    expect(r.stdout).toContain('ssd.spec: 1392 priors from 2 PriorBox heads (12x16, 6x8), 4 classes (background, cat, dog, cow), background 0');
    expect(r.stdout).toMatch(/BatchNormalization: 3 found, 3 folded \(epsilon [^)]+\), 0 left/);
    expect(r.stdout).toContain(`unfused model: ${unfused} (${fs.statSync(unfused).size} bytes)`);
    expect(r.stdout).toMatch(/verify: OK: /);
    const info = inspectModel(fs.readFileSync(output));
    expect(info.batchNormCount).toBe(0);
    expect(specFromMetadata(info.metadata).labels).toEqual(['background', 'cat', 'dog', 'cow']);
    expect(inspectModel(fs.readFileSync(unfused)).batchNormCount).toBe(3);
    const json = JSON.parse(fs.readFileSync(report, 'utf8'));
    expect(json.report.batchNormFolded).toBe(3);
    expect(json.input.details).toMatchObject({ format: 'caffe', batchNormScalePairs: 3, netName: 'tiny-ssd' });
    expect(json.input.files).toEqual([prototxt, caffemodel, labels]);
    expect(json.input.source).toBe(`${prototxt} + ${caffemodel}`);
    expect([json.outputPath, json.unfusedOutputPath]).toEqual([output, unfused]);
    expect(json.verification.ok).toBe(true);
  });

  it('import-caffe is the same conversion, with the same report and the same bytes', () => {
    const viaConvert = path.join(dir, 'via-convert.onnx');
    const viaImport = path.join(dir, 'via-import.onnx');
    const a = cli('convert', '--prototxt', prototxt, '--caffemodel', caffemodel, '--output', viaConvert);
    const b = cli('import-caffe', '--prototxt', prototxt, '--caffemodel', caffemodel, '--output', viaImport);
    expect([a.status, a.stderr, b.status, b.stderr]).toEqual([0, '', 0, '']);
    expect(b.stdout.split('\n')[0]).toBe(`convert: ${prototxt} + ${caffemodel} -> ${viaImport}`);
    // The reports differ only in the output path and the timings.
    const normalise = (s: string, out: string) => s.replace(out, 'OUT').replace(/^ {2}time: .*$/m, '');
    expect(normalise(b.stdout, viaImport)).toBe(normalise(a.stdout, viaConvert));
    expect(fs.readFileSync(viaImport).equals(fs.readFileSync(viaConvert))).toBe(true);
    // Without labels the Caffe front end names the classes itself.
    expect(specFromMetadata(inspectModel(fs.readFileSync(viaImport)).metadata).labels).toHaveLength(4);
  });

  it('accepts --verify=false (how nx forwards --no-verify), for convert and import-caffe', () => {
    for (const command of ['convert', 'import-caffe']) {
      const output = path.join(dir, `noverify-${command}.onnx`);
      const r = cli(command, '--prototxt', prototxt, '--caffemodel', caffemodel, '--output', output, '--verify=false');
      expect([r.status, r.stderr]).toEqual([0, '']);
      expect(r.stdout).toContain('verify: skipped (--no-verify)');
      expect(fs.existsSync(output)).toBe(true);
    }
  });

  it('a verification failure (--rtol 0 --atol 0): exit 1, the report printed and written as JSON, neither model written', () => {
    const sub = fs.mkdtempSync(path.join(dir, 'fail-'));
    const output = path.join(sub, 'tiny.onnx');
    const unfused = path.join(sub, 'tiny.unfused.onnx');
    const report = path.join(dir, 'failed.json');
    const r = cli('import-caffe', '--prototxt', prototxt, '--caffemodel', caffemodel, '--output', output, '--unfused-output', unfused, '--rtol', '0', '--atol', '0', '--report', report);
    expect(r.status).toBe(1);
    expect(r.stdout.split('\n')[0]).toBe(`convert: ${prototxt} + ${caffemodel} -> ${output}`);
    expect(r.stdout).toContain('verify: FAILED');
    expectOneLineError(r, /^model: verification failed: .*; nothing written$/);
    expect(listDir(sub)).toEqual([]);
    const json = JSON.parse(fs.readFileSync(report, 'utf8'));
    expect(json.verification.ok).toBe(false);
    expect(json.input.details.format).toBe('caffe');
  });

  it('refuses an --unfused-output equal to --output, a --report equal to either, or an output or report that is an input file', () => {
    const output = path.join(dir, 'same.onnx');
    expectRefused(cli('import-caffe', '--prototxt', prototxt, '--caffemodel', caffemodel, '--output', output, '--unfused-output', path.join(dir, '.', 'same.onnx')), /^model: --unfused-output must differ from --output$/);
    expect(fs.existsSync(output)).toBe(false);
    const before = fs.readFileSync(caffemodel);
    expectRefused(cli('convert', '--prototxt', prototxt, '--caffemodel', caffemodel, '--output', caffemodel), /^model: output '.*tiny\.caffemodel' is the input file '.*tiny\.caffemodel'; refusing to overwrite it$/);
    expectRefused(cli('convert', '--prototxt', prototxt, '--caffemodel', caffemodel, '--output', output, '--unfused-output', prototxt), /output '.*tiny\.prototxt' is the input file .*; refusing to overwrite it$/);
    expectRefused(cli('import-caffe', '--prototxt', prototxt, '--caffemodel', caffemodel, '--output', output, '--report', caffemodel), /^model: report '.*tiny\.caffemodel' is the input file .*; refusing to overwrite it$/);
    const unfused = path.join(dir, 'same.unfused.onnx');
    expectRefused(cli('import-caffe', '--prototxt', prototxt, '--caffemodel', caffemodel, '--output', output, '--unfused-output', unfused, '--report', unfused), /^model: --report must differ from --output and --unfused-output$/);
    expect(fs.existsSync(unfused)).toBe(false);
    const labels = write('labels4.txt', 'a\nb\nc\nd\n');
    expectRefused(cli('convert', '--prototxt', prototxt, '--caffemodel', caffemodel, '--labels', labels, '--output', labels), /output '.*labels4\.txt' is the input file .*; refusing to overwrite it$/);
    expect(fs.readFileSync(caffemodel).equals(before)).toBe(true);
    expect(fs.readFileSync(labels, 'utf8')).toBe('a\nb\nc\nd\n');
  });

  it('refuses an unknown layer type, naming the layer and its prototxt line', () => {
    const text = fixture.prototxt.replace(/(layer \{\n {2}name: "c2\/relu"\n {2}type: )"ReLU"/, '$1"Swish"');
    const line = text.slice(0, text.indexOf('name: "c2/relu"')).split('\n').length - 1;
    const bad = write('unknown.prototxt', text);
    expectConvertRefused({ prototxt: bad }, new RegExp(`^model: ${escape(bad)}:${line}: layer 'c2/relu' has type 'Swish', which the Caffe importer does not support \\(supported: `));
  });

  it('refuses a caffemodel without the weights of a layer', () => {
    const weights = write('missing.caffemodel', writeCaffemodel(fixture.layers.filter((l) => l.name !== 'c2/bn')));
    expectConvertRefused({ caffemodel: weights }, /:\d+: layer 'c2\/bn' \(BatchNorm\): the caffemodel '.*missing\.caffemodel' has no weights for this layer$/);
  });

  it('refuses a weight blob whose shape does not match the prototxt', () => {
    const layers: CaffeLayerData[] = fixture.layers.map((l) => (l.name === 'c3' ? { ...l, blobs: [{ shape: [16, 16, 1, 9], data: l.blobs[0].data }] } : l));
    const weights = write('shape.caffemodel', writeCaffemodel(layers));
    expectConvertRefused({ caffemodel: weights }, /layer 'c3' \(Convolution\): weight blob 0 \(weight\) in the caffemodel has shape \[16, 16, 1, 9\], but the prototxt implies \[16, 16, 3, 3\]$/);
  });

  it('refuses a truncated caffemodel', () => {
    const bytes = writeCaffemodel(fixture.layers);
    const weights = write('truncated.caffemodel', bytes.subarray(0, Math.floor(bytes.length * 0.6)));
    expectConvertRefused({ caffemodel: weights }, /^model: caffemodel '.*truncated\.caffemodel' is truncated or corrupt: /);
  });

  it('refuses a prototxt with a syntax error, giving line and column', () => {
    const bad = write('syntax.prototxt', fixture.prototxt.replace('type: "Permute"', 'type: "Permute"\n  permute_param { order: 0 order 2 }'));
    const line = fs.readFileSync(bad, 'utf8').split('\n').findIndex((l) => l.includes('order 2')) + 1;
    expectConvertRefused({ prototxt: bad }, new RegExp(`syntax\\.prototxt:${line}:34: syntax error: expected ':' or '\\{' after field name 'order', got '2'$`));
  });

  it('refuses missing files, a labels file of the wrong length or without labels', () => {
    expectConvertRefused({ caffemodel: path.join(dir, 'nope.caffemodel') }, /cannot read caffemodel '.*nope\.caffemodel': no such file$/);
    expectConvertRefused({ prototxt: path.join(dir, 'nope.prototxt') }, /cannot read prototxt '.*nope\.prototxt': no such file$/);
    expectConvertRefused({ extra: ['--labels', path.join(dir, 'nope.txt')] }, /cannot read labels file '.*nope\.txt': no such file$/);
    expectConvertRefused({ extra: ['--labels', write('short.txt', 'a\nb\n')] }, /layer 'detection_out' \(DetectionOutput\): 2 labels were given for num_classes 4$/);
    expectConvertRefused({ extra: ['--labels', write('blank.txt', '\n \n')] }, /labels file '.*blank\.txt' has no labels$/);
    expectConvertRefused({ caffemodel: prototxt }, /caffemodel '.*tiny\.prototxt' (is truncated or corrupt|holds no layers)/);
  });

  it('answers bad usage with exit 2, the message and the usage', () => {
    expectUsageError(cli('convert', '--prototxt', prototxt, '--output', path.join(dir, 'x.onnx')), '--caffemodel is required');
    expectUsageError(cli('import-caffe', '--prototxt', prototxt, '--caffemodel', caffemodel), '--output is required');
    expectUsageError(cli('import-caffe', '--prototxt', prototxt, '--caffemodel', caffemodel, '--output', path.join(dir, 'x.onnx'), '--shared-weights', 'leave'), /^model: Unknown option '--shared-weights'/);
    expect(fs.existsSync(path.join(dir, 'x.onnx'))).toBe(false);
  });

  it('the usage lists the Caffe form and import-caffe', () => {
    const r = cli('--help');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('  model convert --prototxt deploy.prototxt --caffemodel w.caffemodel [--labels labels.txt] [--mean 104,117,123] [--scale 1] [--channel-order BGR|RGB] [--unfused-output u.onnx] --output out.onnx');
    expect(r.stdout).toContain('  model import-caffe ');
  });
});
