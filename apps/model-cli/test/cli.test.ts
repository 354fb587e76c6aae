// The CLI, as users run it: `node libs/bn-fuse/dist/cli.js ...` (the test target runs after build).
import { spawnSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ModelProto, decodeModel, encodeModel, inspectModel, isExternalTensor } from '@edge-ssd/onnx-io';
import { convBnModel, tempDir, writeExternalModel } from '@edge-ssd/onnx-io/testing';
import { CLI } from './helpers'; // FIXME

function cli(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  return cliWithEnv({}, ...args);
}

function cliWithEnv(env: Record<string, string>, ...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 60000, env: { ...process.env, ...env } });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function expectOneLineError(r: { stderr: string }, pattern: RegExp): void {
  const lines = r.stderr.trim().split('\n');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(/^bn-fuse: /);
  expect(lines[0]).toMatch(pattern);
}

describe('bn-fuse CLI', () => {
  let dir: string;
  let model: string;

  beforeAll(() => {
    if (!fs.existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npx nx run bn-fuse:build\` first`);
    dir = tempDir('cli');
    model = path.join(dir, 'model.onnx');
    const r = cli('write-mobilenet-ssd', '--output', model);
    if (r.status !== 0) throw new Error(`write-mobilenet-ssd failed: ${r.stderr}`);
  });
  afterAll(() => {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('write-mobilenet-ssd writes the unfused default model', () => {
    const info = inspectModel(fs.readFileSync(model));
    expect(info.batchNormCount).toBe(35);
    expect(info.nodeCount).toBe(144);
  });

  it('convert folds, verifies, prints a summary and writes the output and the JSON report', () => {
    const out = path.join(dir, 'fused.onnx');
    const report = path.join(dir, 'report.json');
    const r = cli('convert', '--input', model, '--output', out, '--report', report);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('BatchNormalization: 35 found, 35 folded, 0 left');
    expect(r.stdout).toContain('nodes: 144 -> 109');
    expect(r.stdout).toMatch(/size: 23\.\d\d MB -> 23\.\d\d MB/);
    expect(r.stdout).toMatch(/verify: OK: max abs error \d\.\d\de-\d/);
    expect(inspectModel(fs.readFileSync(out)).batchNormCount).toBe(0);
    const json = JSON.parse(fs.readFileSync(report, 'utf8'));
    expect(json.report.batchNormFolded).toBe(35);
    expect(json.verification.ok).toBe(true);
    expect(json.before.nodes).toBe(144);
    expect(json.after.nodes).toBe(109);
    // Atomic writes leave no temporary files behind.
    expect(fs.readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  it('accepts --key=value options and skips verification with --no-verify or --verify=false', () => {
    for (const flag of ['--no-verify', '--verify=false']) {
      const out = path.join(dir, `noverify${flag.length}.onnx`);
      const r = cli('convert', `--input=${model}`, `--output=${out}`, flag);
      expect(r.status).toBe(0);
      expect(r.stdout).toContain('verify: skipped');
      expect(fs.existsSync(out)).toBe(true);
    }
  });

  it('refuses to overwrite its input (same path or a symlink to it): exit 2, input unchanged', () => {
    const before = fs.statSync(model);
    const link = path.join(dir, 'link.onnx');
    fs.symlinkSync(model, link);
    for (const output of [model, path.join(dir, '.', 'model.onnx'), link]) {
      const r = cli('convert', '--input', model, '--output', output, '--no-verify');
      expect(r.status).toBe(2);
      expectOneLineError(r, /refusing to overwrite/);
    }
    const after = fs.statSync(model);
    expect(after.mtimeMs).toBe(before.mtimeMs);
    expect(after.size).toBe(before.size);
  });

  it('exits 2 with one line on stderr for a missing input', () => {
    const out = path.join(dir, 'never1.onnx');
    const r = cli('convert', '--input', path.join(dir, 'nope.onnx'), '--output', out);
    expect(r.status).toBe(2);
    expectOneLineError(r, /cannot read input .*no such file/);
    expect(fs.existsSync(out)).toBe(false);
  });

  it('exits 2 with one line on stderr for input that is not a protobuf', () => {
    const garbage = path.join(dir, 'garbage.onnx');
    fs.writeFileSync(garbage, 'hello, this is certainly not an ONNX model\n'.repeat(20));
    const out = path.join(dir, 'never2.onnx');
    const r = cli('convert', '--input', garbage, '--output', out);
    expect(r.status).toBe(2);
    expectOneLineError(r, /not a usable ONNX model/);
    expect(fs.existsSync(out)).toBe(false);
  });

  it('exits 2 with one line on stderr for a truncated model', () => {
    const truncated = path.join(dir, 'truncated.onnx');
    const bytes = fs.readFileSync(model);
    fs.writeFileSync(truncated, bytes.subarray(0, Math.floor(bytes.length * 0.6)));
    const out = path.join(dir, 'never3.onnx');
    const r = cli('convert', '--input', truncated, '--output', out);
    expect(r.status).toBe(2);
    expectOneLineError(r, /not a usable ONNX model.*truncated or corrupt/);
    expect(fs.existsSync(out)).toBe(false);
  });

  it('exits 1 and writes nothing when the fold is outside the tolerance', () => {
    const out = path.join(dir, 'never4.onnx');
    const r = cli('convert', '--input', model, '--output', out, '--rtol', '0', '--atol', '0');
    expect(r.status).toBe(1);
    expect(r.stdout).toContain('verify: FAILED');
    expectOneLineError(r, /verification failed.*nothing written/);
    expect(fs.existsSync(out)).toBe(false);
  });

  describe('models that parse but are not valid ONNX: exit 2, one line naming the node', () => {
    function invalid(name: string, edit: (m: ModelProto) => void): { status: number | null; stdout: string; stderr: string; out: string } {
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
      expect(r.status).toBe(2);
      expectOneLineError(r, /not a usable ONNX model: node 'bn' \(BatchNormalization\): input 'nope' is not a graph input, an initializer or the output of any node/);
      expect(fs.existsSync(r.out)).toBe(false);
    });

    it('a BatchNormalization with the wrong number of inputs', () => {
      const r = invalid('bn4', (m) => {
        const bn = m.graph?.node.find((n) => n.name === 'bn');
        bn?.input.pop();
      });
      expect(r.status).toBe(2);
      expectOneLineError(r, /node 'bn' \(BatchNormalization\) has 4 inputs, expected 5/);
    });

    it('nodes out of topological order', () => {
      const r = invalid('order', (m) => m.graph?.node.reverse());
      expect(r.status).toBe(2);
      expectOneLineError(r, /node 'bn' \(BatchNormalization\): input 'conv_out' is produced by a later node, node 'conv' \(Conv\)/);
    });
  });

  describe('fold outside the tolerance (test hook corrupts the fold): exit 1, nothing written', () => {
    it('single-file model', () => {
      const small = path.join(dir, 'small.onnx');
      fs.writeFileSync(small, encodeModel(convBnModel({ bias: true })));
      const before = fs.readdirSync(dir).sort();
      const out = path.join(dir, 'corrupt.onnx');
      const r = cliWithEnv({ BN_FUSE_TEST_HOOK: 'corrupt-fold' }, 'convert', '--input', small, '--output', out);
      expect(r.status).toBe(1);
      expect(r.stdout).toContain('verify: FAILED');
      expectOneLineError(r, /verification failed: max abs error .* exceeds .*; nothing written/);
      expect(fs.readdirSync(dir).sort()).toEqual(before);
      // Without the hook the same conversion passes: the failure was the corruption.
      expect(cli('convert', '--input', small, '--output', out).status).toBe(0);
      expect(fs.existsSync(out)).toBe(true);
    });

    it('external-data model: neither the model nor its data file is written', () => {
      const sub = fs.mkdtempSync(path.join(dir, 'ext-'));
      const input = writeExternalModel(sub, 'in.onnx');
      const outDir = fs.mkdtempSync(path.join(dir, 'extout-'));
      const out = path.join(outDir, 'out.onnx');
      const r = cliWithEnv({ BN_FUSE_TEST_HOOK: 'corrupt-fold' }, 'convert', '--input', input, '--output', out);
      expect(r.status).toBe(1);
      expectOneLineError(r, /verification failed/);
      expect(fs.readdirSync(outDir)).toEqual([]);
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
      const names = fs.readdirSync(sub).sort();
      const data = names.find((n) => /^out\.onnx\.[0-9a-f]{16}\.data$/.test(n));
      expect(names).toEqual(['in.onnx', 'out.onnx', data, 'w.bin']);
      const bytes = fs.readFileSync(path.join(sub, data as string));
      // The name is the first 16 hex digits of the data's sha256, and the model points at it.
      expect(data).toBe(`out.onnx.${crypto.createHash('sha256').update(bytes).digest('hex').slice(0, 16)}.data`);
      expect(bytes.byteLength).toBe(16 * 8 * 9 * 4);
      const locations = decodeModel(fs.readFileSync(out)).graph?.initializer.filter(isExternalTensor).map((t) => t.external_data.find((e) => e.key === 'location')?.value);
      expect(locations).toEqual([data]);
      expect(r.stdout).toContain(`external data: ${path.join(sub, data as string)}`);
      expect(r.stdout).toMatch(/verify: OK/);
      // Deterministic: converting again gives the same model bytes and the same data file.
      const model = fs.readFileSync(out);
      expect(cli('convert', '--input', input, '--output', out).status).toBe(0);
      expect(fs.readdirSync(sub).sort()).toEqual(names);
      expect(fs.readFileSync(out).equals(model)).toBe(true);
    });

    it('exits 2 naming the tensor when the data file is missing', () => {
      const sub = fs.mkdtempSync(path.join(dir, 'ext-'));
      const input = writeExternalModel(sub, 'in.onnx');
      fs.rmSync(path.join(sub, 'w.bin'));
      const r = cli('convert', '--input', input, '--output', path.join(sub, 'out.onnx'));
      expect(r.status).toBe(2);
      expectOneLineError(r, /tensor 'W': cannot open external data file 'w.bin' \(no such file\)/);
      expect(fs.readdirSync(sub)).toEqual(['in.onnx']);
    });

    it('exits 2 when a location points outside the model directory', () => {
      const sub = fs.mkdtempSync(path.join(dir, 'ext-'));
      const input = writeExternalModel(sub, 'in.onnx', 'w.bin', '../w.bin');
      const r = cli('convert', '--input', input, '--output', path.join(sub, 'out.onnx'));
      expect(r.status).toBe(2);
      expectOneLineError(r, /external data location '..\/w.bin' points outside the model's directory/);
    });
  });

  it('exits 2 with usage for bad command lines', () => {
    expect(cli().status).toBe(2);
    expect(cli('frobnicate').status).toBe(2);
    const missing = cli('convert', '--input', model);
    expect(missing.status).toBe(2);
    expect(missing.stderr).toContain('--output is required');
    expect(cli('convert', '--input', model, '--output', 'x.onnx', '--rtol', 'abc').status).toBe(2);
    expect(cli('convert', '--input', model, '--output', 'x.onnx', '--bogus').status).toBe(2);
    const bad = cli('convert', '--input', model, '--output', 'x.onnx', '--shared-weights', 'share');
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain('--shared-weights must be one of clone, leave');
  });
});
