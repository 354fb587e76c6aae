// The `model` CLI on ONNX inputs, as users run it: `node apps/model-cli/dist/main.js ...` (the test
// target builds first). Exit codes: 0 done; 1 verification failed (report printed, nothing written),
// unwritable output; 2 bad usage (message and usage) or unusable input (one line).
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { type ModelProto, decodeModel, encodeModel, inspectModel, isExternalTensor } from '@edge-ssd/onnx-io';
import { convBnModel, tempDir, writeExternalModel } from '@edge-ssd/onnx-io/testing';
import { type CliRun, expectOneLineError, expectRefused, expectUsageError, listDir, runCli } from './helpers';

const cli = (...args: string[]): CliRun => runCli(args);

describe('model CLI', () => {
  let dir: string;
  let model: string;

  beforeAll(() => {
    dir = tempDir('cli');
    model = path.join(dir, 'model.onnx');
    const r = cli('write-mobilenet-ssd', '--output', model);
    if (r.status !== 0) throw new Error(`write-mobilenet-ssd failed: ${r.stderr}`);
    expect(r.stdout).toMatch(/^model write-mobilenet-ssd: .*model\.onnx \(\d+ bytes, 144 nodes, 35 BatchNormalization, [\d.]+ s\)\n$/);
  });
  afterAll(() => {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('write-mobilenet-ssd writes the unfused seeded model', () => {
    const info = inspectModel(fs.readFileSync(model));
    expect(info.batchNormCount).toBe(35);
    expect(info.nodeCount).toBe(144);
  });

  it('convert folds, verifies, prints the report and writes the output and the JSON report', () => {
    const out = path.join(dir, 'fused.onnx');
    const report = path.join(dir, 'report.json');
    const r = cli('convert', '--input', model, '--output', out, '--report', report);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout.split('\n')[0]).toBe(`convert: ${model} -> ${out}`);
    expect(r.stdout).toContain('ssd.spec: 1917 priors from 6 PriorBox heads');
    expect(r.stdout).toMatch(/BatchNormalization: 35 found, 35 folded \(epsilon [\d.e-]+\), 0 left/);
    expect(r.stdout).toContain('nodes: 144 -> 109');
    expect(r.stdout).toMatch(/size: 23\.\d\d MB -> 23\.\d\d MB \(-\d+ bytes\)/);
    expect(r.stdout).toMatch(/verify: OK: max abs error \d\.\d\de-\d/);
    expect(r.stdout).toMatch(/time: [\d.]+ s \(read \d+ ms, import \d+ ms, fold \d+ ms, encode \d+ ms, verify \d+ ms\)\n$/);
    expect(inspectModel(fs.readFileSync(out)).batchNormCount).toBe(0);
    const json = JSON.parse(fs.readFileSync(report, 'utf8'));
    expect(json.report.batchNormFolded).toBe(35);
    expect(json.verification.ok).toBe(true);
    expect(json.before.nodes).toBe(144);
    expect(json.after.nodes).toBe(109);
    expect(json.outputPath).toBe(out);
    expect(json.input).toMatchObject({ source: model, files: [model], details: { format: 'onnx', path: model } });
    // Atomic writes leave no staging files behind.
    expect(listDir(dir).filter((f) => f.startsWith('.'))).toEqual([]);
  });

  it('accepts --key=value options and skips verification with --no-verify or --verify=false', () => {
    for (const flag of ['--no-verify', '--verify=false']) {
      const out = path.join(dir, `noverify${flag.length}.onnx`);
      const r = cli('convert', `--input=${model}`, `--output=${out}`, flag);
      expect([r.status, r.stderr]).toEqual([0, '']);
      expect(r.stdout).toContain('verify: skipped (--no-verify)');
      expect(fs.existsSync(out)).toBe(true);
    }
    // --verify=true is --verify: verification runs.
    const out = path.join(dir, 'verifytrue.onnx');
    const r = cli('convert', '--input', model, '--output', out, '--verify=true');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/verify: OK/);
  });

  it('refuses to overwrite its input (same path or a symlink to it): exit 2, input unchanged', () => {
    const before = fs.statSync(model);
    const link = path.join(dir, 'link.onnx');
    fs.symlinkSync(model, link);
    for (const output of [model, path.join(dir, '.', 'model.onnx'), link]) {
      const r = cli('convert', '--input', model, '--output', output, '--no-verify');
      expectRefused(r, /refusing to overwrite/);
    }
    const after = fs.statSync(model);
    expect(after.mtimeMs).toBe(before.mtimeMs);
    expect(after.size).toBe(before.size);
  });

  it('refuses a --report that would overwrite the input or the output: exit 2, nothing written', () => {
    const before = fs.readFileSync(model);
    const out = path.join(dir, 'report-clash.onnx');
    expectRefused(cli('convert', '--input', model, '--output', out, '--report', model), /^model: report '.*model\.onnx' is the input file '.*model\.onnx'; refusing to overwrite it$/);
    expectRefused(cli('convert', '--input', model, '--output', out, '--report', out), /^model: --report must differ from --output and --unfused-output$/);
    expect(fs.existsSync(out)).toBe(false);
    expect(fs.readFileSync(model).equals(before)).toBe(true);
  });

  it('exits 2 with one line on stderr for a missing input', () => {
    const out = path.join(dir, 'never1.onnx');
    const r = cli('convert', '--input', path.join(dir, 'nope.onnx'), '--output', out);
    expectRefused(r, /^model: cannot read input '.*nope\.onnx': no such file/);
    expect(fs.existsSync(out)).toBe(false);
  });

  it('exits 2 with one line on stderr for input that is not a protobuf', () => {
    const garbage = path.join(dir, 'garbage.onnx');
    fs.writeFileSync(garbage, 'hello, this is certainly not an ONNX model\n'.repeat(20));
    const out = path.join(dir, 'never2.onnx');
    const r = cli('convert', '--input', garbage, '--output', out);
    expectRefused(r, /^model: input '.*garbage\.onnx' is not a usable ONNX model/);
    expect(fs.existsSync(out)).toBe(false);
  });

  it('exits 2 with one line on stderr for a truncated model', () => {
    const truncated = path.join(dir, 'truncated.onnx');
    const bytes = fs.readFileSync(model);
    fs.writeFileSync(truncated, bytes.subarray(0, Math.floor(bytes.length * 0.6)));
    const out = path.join(dir, 'never3.onnx');
    const r = cli('convert', '--input', truncated, '--output', out);
    expectRefused(r, /not a usable ONNX model.*truncated or corrupt/);
    expect(fs.existsSync(out)).toBe(false);
  });

  it('exits 1 with one line when the output cannot be written (missing directory); nothing written', () => {
    const out = path.join(dir, 'no-such-dir', 'out.onnx');
    const r = cli('convert', '--input', model, '--output', out, '--no-verify');
    expect(r.status).toBe(1);
    expectOneLineError(r, /^model: cannot write output '.*no-such-dir\/out\.onnx': no such file or directory$/);
    expect(fs.existsSync(path.dirname(out))).toBe(false);
  });

  describe('verification failure (a zero tolerance, which the fold rounding exceeds): exit 1, report printed, nothing written', () => {
    it('the seeded MobileNet-SSD, with --report: the JSON report is written, the model is not', () => {
      const sub = fs.mkdtempSync(path.join(dir, 'fail-'));
      const out = path.join(sub, 'out.onnx');
      const report = path.join(dir, 'failed-report.json');
      const r = cli('convert', '--input', model, '--output', out, '--rtol', '0', '--atol', '0', '--report', report);
      expect(r.status).toBe(1);
      expect(r.stdout.split('\n')[0]).toBe(`convert: ${model} -> ${out}`);
      expect(r.stdout).toMatch(/verify: FAILED: max abs error \S+, max rel error \S+ \(rtol 0, atol 0;/);
      expect(r.stdout).toContain('BatchNormalization: 35 found, 35 folded');
      expectOneLineError(r, /^model: verification failed: max abs error \S+ exceeds atol 0 \+ rtol 0 \* \|ref\|; nothing written$/);
      // Nothing: neither the output nor a staging file in its directory.
      expect(listDir(sub)).toEqual([]);
      const json = JSON.parse(fs.readFileSync(report, 'utf8'));
      expect(json.verification).toMatchObject({ ok: false, rtol: 0, atol: 0 });
      expect(json.verification.maxAbsError).toBeGreaterThan(0);
      expect(json.outputPath).toBe(out);
      expect(json.report.batchNormFolded).toBe(35);
    });

    it('a single-file model: the directory is unchanged; with the default tolerance the same conversion passes', () => {
      const sub = fs.mkdtempSync(path.join(dir, 'small-'));
      const small = path.join(sub, 'small.onnx');
      fs.writeFileSync(small, encodeModel(convBnModel({ bias: true })));
      const before = listDir(sub);
      const out = path.join(sub, 'corrupt.onnx');
      const r = cli('convert', '--input', small, '--output', out, '--rtol', '0', '--atol', '0');
      expect(r.status).toBe(1);
      expect(r.stdout).toContain('verify: FAILED');
      expectOneLineError(r, /verification failed: max abs error .* exceeds .*; nothing written/);
      expect(listDir(sub)).toEqual(before);
      // The failure was the tolerance: the default one passes.
      expect(cli('convert', '--input', small, '--output', out).status).toBe(0);
      expect(fs.existsSync(out)).toBe(true);
    });

    it('an external-data model: neither the model nor its data file is written, nor any staging directory', () => {
      const sub = fs.mkdtempSync(path.join(dir, 'ext-'));
      const input = writeExternalModel(sub, 'in.onnx');
      const outDir = fs.mkdtempSync(path.join(dir, 'extout-'));
      const out = path.join(outDir, 'out.onnx');
      const r = cli('convert', '--input', input, '--output', out, '--rtol', '0', '--atol', '0');
      expect(r.status).toBe(1);
      expect(r.stdout).toContain('verify: FAILED');
      expectOneLineError(r, /verification failed/);
      expect(listDir(outDir)).toEqual([]);
      expect(listDir(sub)).toEqual(['in.onnx', 'w.bin']);
    });
  });

  describe('models that parse but are not valid ONNX: exit 2, one line naming the node', () => {
    function invalid(name: string, edit: (m: ModelProto) => void): CliRun & { out: string } {
      const m = convBnModel({ bias: true });
      edit(m);
      const file = path.join(dir, `${name}.onnx`);
      fs.writeFileSync(file, encodeModel(m));
      const out = path.join(dir, `${name}.out.onnx`);
      return { ...cli('convert', '--input', file, '--output', out), out };
    }

    it('a node input that nothing produces', () => {
      const r = invalid('dangling', (m) => {
        const bn = m.graph?.node.find((n) => n.name === 'bn');
        if (bn) bn.input[0] = 'nope';
      });
      expectRefused(r, /not a usable ONNX model: node 'bn' \(BatchNormalization\): input 'nope' is not a graph input, an initializer or the output of any node/);
      expect(fs.existsSync(r.out)).toBe(false);
    });

    it('a BatchNormalization with the wrong number of inputs', () => {
      const r = invalid('bn4', (m) => {
        const bn = m.graph?.node.find((n) => n.name === 'bn');
        bn?.input.pop();
      });
      expectRefused(r, /node 'bn' \(BatchNormalization\) has 4 inputs, expected 5/);
    });

    it('nodes out of topological order', () => {
      const r = invalid('order', (m) => m.graph?.node.reverse());
      expectRefused(r, /node 'bn' \(BatchNormalization\): input 'conv_out' is produced by a later node, node 'conv' \(Conv\)/);
    });
  });

  describe('external data', () => {
    it('converts a model with external data: the output gets <output>.<sha256 prefix>.data next to it', () => {
      const sub = fs.mkdtempSync(path.join(dir, 'ext-'));
      const input = writeExternalModel(sub, 'in.onnx');
      const out = path.join(sub, 'out.onnx');
      const r = cli('convert', '--input', input, '--output', out);
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      const names = listDir(sub);
      const data = names.find((n) => /^out\.onnx\.[0-9a-f]{16}\.data$/.test(n));
      expect(names).toEqual(['in.onnx', 'out.onnx', data, 'w.bin']);
      const bytes = fs.readFileSync(path.join(sub, data as string));
      // The name is the first 16 hex digits of the data's sha256, and the model points at it.
      expect(data).toBe(`out.onnx.${crypto.createHash('sha256').update(bytes).digest('hex').slice(0, 16)}.data`);
      expect(bytes.byteLength).toBe(16 * 8 * 9 * 4);
      const locations = decodeModel(fs.readFileSync(out)).graph?.initializer.filter(isExternalTensor).map((t) => t.external_data.find((e) => e.key === 'location')?.value);
      expect(locations).toEqual([data]);
      expect(r.stdout).toContain(`external data: ${path.join(sub, data as string)}`);
      expect(r.stdout).toMatch(/size: [\d.]+ kB \+ [\d.]+ kB external -> [\d.]+ kB \+ [\d.]+ kB external/);
      expect(r.stdout).toMatch(/verify: OK/);
      // Deterministic: converting again gives the same model bytes and the same data file.
      const modelBytes = fs.readFileSync(out);
      expect(cli('convert', '--input', input, '--output', out).status).toBe(0);
      expect(listDir(sub)).toEqual(names);
      expect(fs.readFileSync(out).equals(modelBytes)).toBe(true);
    });

    it('exits 2 naming the tensor when the data file is missing', () => {
      const sub = fs.mkdtempSync(path.join(dir, 'ext-'));
      const input = writeExternalModel(sub, 'in.onnx');
      fs.rmSync(path.join(sub, 'w.bin'));
      const r = cli('convert', '--input', input, '--output', path.join(sub, 'out.onnx'));
      expectRefused(r, /tensor 'W': cannot open external data file 'w.bin' \(no such file\)/);
      expect(listDir(sub)).toEqual(['in.onnx']);
    });

    it('exits 2 when a location points outside the model directory', () => {
      const sub = fs.mkdtempSync(path.join(dir, 'ext-'));
      const input = writeExternalModel(sub, 'in.onnx', 'w.bin', '../w.bin');
      const r = cli('convert', '--input', input, '--output', path.join(sub, 'out.onnx'));
      expectRefused(r, /external data location '..\/w.bin' points outside the model's directory/);
    });
  });

  describe('the command line', () => {
    it('without a command: exit 2 and the usage; --help: exit 0 and the usage on stdout', () => {
      const none = cli();
      expect([none.status, none.stdout]).toEqual([2, '']);
      expect(none.stderr).toMatch(/^usage:\n {2}model convert --input in\.onnx /);
      for (const help of ['--help', '-h', 'help']) {
        const r = cli(help);
        expect([r.status, r.stderr]).toEqual([0, '']);
        expect(r.stdout).toBe(none.stderr);
      }
      // Every subcommand is in the usage.
      for (const command of ['convert', 'import-caffe', 'import-tfjs', 'prepare', 'list', 'write-mobilenet-ssd', 'inspect']) expect(none.stderr).toContain(`  model ${command} `);
    });

    it('an unknown command or option: exit 2, the message, the usage', () => {
      expectUsageError(cli('frobnicate'), "unknown command 'frobnicate'");
      expectUsageError(cli('convert', '--input', model, '--output', 'x.onnx', '--bogus'), /^model: Unknown option '--bogus'/);
      expectUsageError(cli('list', '--all'), /^model: Unknown option '--all'/);
      expectUsageError(cli('convert', '--input', model, '--output', 'x.onnx', 'extra'), "unexpected argument 'extra'");
    });

    it('bad option values: exit 2, the message, the usage', () => {
      expectUsageError(cli('convert', '--input', model), '--output is required');
      expectUsageError(cli('convert', '--input', model, '--output', 'x.onnx', '--rtol', 'abc'), "--rtol must be a non-negative number, got 'abc'");
      expectUsageError(cli('convert', '--input', model, '--output', 'x.onnx', '--atol=-1'), "--atol must be a non-negative number, got '-1'");
      // parseArgs will not take `-1` as a separate value: still bad usage.
      expectUsageError(cli('convert', '--input', model, '--output', 'x.onnx', '--atol', '-1'), /^model: Option '--atol' argument is ambiguous/);
      expectUsageError(cli('convert', '--input', model, '--output', 'x.onnx', '--shared-weights', 'share'), "--shared-weights must be one of clone, leave, got 'share'");
      expectUsageError(cli('convert', '--input', model, '--output', 'x.onnx', '--initializer-inputs', 'yes'), "--initializer-inputs must be one of leave, fold, got 'yes'");
      expectUsageError(cli('convert', '--input', model, '--output', 'x.onnx', '--verify=maybe'), /^model: Option '--verify' does not take an argument/);
      expectUsageError(cli('convert', '--input', '', '--output', 'x.onnx'), '--input needs a value');
      expectUsageError(cli('write-mobilenet-ssd', '--output', 'x.onnx', '--seed', '1.5'), '--seed must be an integer');
      expect(fs.existsSync('x.onnx')).toBe(false);
    });

    it('convert takes exactly one kind of input', () => {
      const one = 'give exactly one input: --input (ONNX), --prototxt with --caffemodel (Caffe), or --tfjs-manifest (tfjs)';
      const out = path.join(dir, 'never-kind.onnx');
      expectUsageError(cli('convert', '--input', model, '--prototxt', 'deploy.prototxt', '--output', out), one);
      expectUsageError(cli('convert', '--input', model, '--caffemodel', 'w.caffemodel', '--output', out), one);
      expectUsageError(cli('convert', '--input', model, '--labels', 'labels.txt', '--output', out), one);
      expectUsageError(cli('convert', '--input', model, '--tfjs-manifest', 'm.json', '--output', out), one);
      expectUsageError(cli('convert', '--prototxt', 'deploy.prototxt', '--caffemodel', 'w.caffemodel', '--tfjs-manifest', 'm.json', '--output', out), one);
      expectUsageError(cli('convert', '--output', out), one);
      // The Caffe form needs both files.
      expectUsageError(cli('convert', '--prototxt', 'deploy.prototxt', '--output', out), '--caffemodel is required');
      expect(fs.existsSync(out)).toBe(false);
    });

    it('--unfused-output is refused for an ONNX input (it already is the unfused model)', () => {
      const out = path.join(dir, 'never-unfused.onnx');
      const unfused = path.join(dir, 'never-unfused.u.onnx');
      expectUsageError(cli('convert', '--input', model, '--output', out, '--unfused-output', unfused), '--unfused-output is for imports: an ONNX input already is the unfused model');
      expect([fs.existsSync(out), fs.existsSync(unfused)]).toEqual([false, false]);
    });

    it('the fold options apply to ONNX inputs only; import-caffe and import-tfjs take their own inputs only', () => {
      expectUsageError(cli('convert', '--prototxt', 'p', '--caffemodel', 'c', '--output', 'x.onnx', '--shared-weights', 'leave'), '--shared-weights and --initializer-inputs apply to ONNX inputs');
      expectUsageError(cli('convert', '--tfjs-manifest', 'm.json', '--output', 'x.onnx', '--initializer-inputs', 'fold'), '--shared-weights and --initializer-inputs apply to ONNX inputs');
      expectUsageError(cli('import-caffe', '--input', model, '--output', 'x.onnx'), /^model: Unknown option '--input'/);
      expectUsageError(cli('import-caffe', '--tfjs-manifest', 'm.json', '--output', 'x.onnx'), /^model: Unknown option '--tfjs-manifest'/);
      expectUsageError(cli('import-tfjs', '--input', model, '--output', 'x.onnx'), /^model: Unknown option '--input'/);
      expectUsageError(cli('import-tfjs', '--prototxt', 'p', '--output', 'x.onnx'), /^model: Unknown option '--prototxt'/);
      expectUsageError(cli('import-tfjs', '--output', 'x.onnx'), '--tfjs-manifest is required');
      expectUsageError(cli('import-caffe', '--caffemodel', 'c', '--output', 'x.onnx'), '--prototxt is required');
      expect(fs.existsSync('x.onnx')).toBe(false);
    });
  });

  it('inspect prints the inputs, outputs, metadata and op counts as JSON', () => {
    const r = cli('inspect', '--input', model);
    expect([r.status, r.stderr]).toEqual([0, '']);
    const info = JSON.parse(r.stdout);
    expect(info.batchNormCount).toBe(35);
    expect(info.inputs).toEqual([{ name: 'data', elemType: 1, shape: ['N', 3, 300, 300] }]);
    expect(Object.keys(info.metadata)).toContain('ssd.spec');
  });
});
