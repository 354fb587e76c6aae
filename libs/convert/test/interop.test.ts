// Models built by another tool: test/fixtures/make_models.py writes them with python3-onnx's
// onnx.helper (Debian's /usr/bin/python3), the converter folds and verifies each one from its file
// (openOnnxFile + convert: the pipeline of `model convert --input`), and onnx.checker (full_check)
// accepts every output. Needs python3-onnx; with SSD_SKIP_ONNX_CHECKER=1 and the package
// missing, the whole file is reported as skipped.
import { spawnSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { LeaveCode } from '@edge-ssd/bn-fuse';
import { decodeModel, inspectModel, isExternalTensor } from '@edge-ssd/onnx-io';
import { OnnxChecker, PYTHON, pythonOnnxAvailable, tempDir } from '@edge-ssd/onnx-io/testing';
import { type ConvertOptions, convert, openOnnxFile } from '../src';

interface Fixture {
  file: string;
  batchNorms: number;
  foldable: number;
  opset: number;
  ir: number;
}

const SCRIPT = path.join(__dirname, 'fixtures', 'make_models.py');
// Decided when the tests are defined, so that jest reports them as skipped (it throws, failing the
// file, when python3-onnx is missing and SSD_SKIP_ONNX_CHECKER is not set).
const available = pythonOnnxAvailable();
const describeOnnx = available ? describe : describe.skip;

function convertFile(input: string, output: string, options?: ConvertOptions) {
  return convert(openOnnxFile(input), output, options);
}

interface Case {
  fixture: string;
  options?: ConvertOptions;
  folded: number;
  left?: LeaveCode;
  ops?: string[];
}

const F16 = { rtol: 1e-2, atol: 1e-2 };

describeOnnx('models written by onnx.helper (python3-onnx)', () => {
  let checker: OnnxChecker;
  let dir: string;
  let fixtures: Record<string, Fixture> = {};

  beforeAll(() => {
    checker = new OnnxChecker('interop');
    dir = tempDir('interop');
    fs.mkdirSync(path.join(dir, 'in'));
    const r = spawnSync(PYTHON, [SCRIPT, path.join(dir, 'in')], { encoding: 'utf8', env: { ...process.env, PYTHONHASHSEED: '0' } });
    if (r.status !== 0) throw new Error(`${SCRIPT} failed: ${r.stderr}`);
    fixtures = JSON.parse(r.stdout);
    fs.mkdirSync(path.join(dir, 'out'));
  });
  afterAll(() => {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
    checker?.cleanup();
  });

  describe.each<[string, Case]>([
    ['Conv + BN, depthwise Conv + BN, Gemm (alpha, beta, C) + BN, Gemm + BN', { fixture: 'conv_bn_gemm_bn', folded: 4, ops: ['Conv', 'Relu', 'Conv', 'Relu', 'GlobalAveragePool', 'Flatten', 'Gemm', 'Gemm'] }],
    ['grouped ConvTranspose + BN', { fixture: 'convtranspose_grouped', folded: 1, ops: ['ConvTranspose'] }],
    ['MatMul + BatchNormalization-15', { fixture: 'matmul_bn', folded: 1, ops: ['Gemm'] }],
    ['float16 Conv with float32 statistics', { fixture: 'conv_fp16', folded: 1, options: F16, ops: ['Conv'] }],
    ['If with Conv + BN in a branch', { fixture: 'if_branch', folded: 1, ops: ['If'] }],
    ['IR 3 / opset 8, initializers listed as inputs', { fixture: 'ir3_opset8', folded: 1, ops: ['Conv'] }],
    ['IR 4 with initializers also graph inputs (default: leave)', { fixture: 'ir4_initializer_inputs', folded: 0, left: 'non-constant-input', ops: ['Conv', 'BatchNormalization'] }],
    ['IR 4 with initializers also graph inputs, --initializer-inputs fold', { fixture: 'ir4_initializer_inputs', folded: 1, options: { initializerInputs: 'fold' }, ops: ['Conv'] }],
    ['external data (weights.bin next to the model)', { fixture: 'external_data', folded: 1, ops: ['Conv', 'Relu', 'Conv'] }],
  ])('%s', (name, c) => {
    it('converts, verifies with onnxruntime and writes a model with the expected graph', async () => {
      const fixture = fixtures[c.fixture];
      const out = path.join(dir, 'out', `${name.replace(/[^\w]+/g, '_')}.onnx`);
      const result = await convertFile(fixture.file, out, c.options);
      expect(result.report.batchNormFound).toBe(fixture.batchNorms);
      expect(result.report.batchNormFolded).toBe(c.folded);
      if (c.left) expect(result.report.left[0].code).toBe(c.left);
      expect(result.verification?.ok).toBe(true);
      expect(result.verification?.maxAbsError).toBeLessThan(c.options?.atol ?? 1e-4);
      const model = decodeModel(fs.readFileSync(out));
      expect(model.graph?.node.map((n) => n.op_type)).toEqual(c.ops);
      expect(model.ir_version).toBe(fixture.ir);
      expect(model.producer_name).toBe('onnx.helper-fixture');
      expect(inspectModel(fs.readFileSync(out)).batchNormCount).toBe(fixture.batchNorms - c.folded);
      checker.addFile(out);
      if (c.fixture === 'external_data') {
        // Large tensors (fused and copied) live in <output>.<sha256 prefix>.data next to the output.
        const dataPath = result.externalDataPath as string;
        expect(path.dirname(dataPath)).toBe(path.dirname(out));
        expect(path.basename(dataPath)).toBe(`${path.basename(out)}.${crypto.createHash('sha256').update(fs.readFileSync(dataPath)).digest('hex').slice(0, 16)}.data`);
        const external = model.graph?.initializer.filter(isExternalTensor).map((t) => t.name);
        expect(external).toEqual(['ext_W_bnfused', 'head_W']);
        const location = model.graph?.initializer[0].external_data.find((e) => e.key === 'location')?.value;
        expect(location).toBe(path.basename(dataPath));
        expect(fs.statSync(dataPath).size).toBe((16 * 27 + 8 * 16 * 9) * 4);
      } else {
        // Idempotent: converting the output again gives the same bytes.
        const again = `${out}.again.onnx`;
        const second = await convertFile(out, again, { ...c.options, verify: false });
        expect(second.report.batchNormFolded).toBe(0);
        expect(fs.readFileSync(again).equals(fs.readFileSync(out))).toBe(true);
        fs.rmSync(again);
      }
    });
  });

  it('every output passes onnx.checker.check_model(full_check=True) and re-serialises to the same bytes', () => {
    expect(checker.count).toBe(9);
    expect(checker.run()).toBe(9);
  });
});
