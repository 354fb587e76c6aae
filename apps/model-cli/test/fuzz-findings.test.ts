// Regressions for what fuzzing found (fuzz/, and hostile-value probes around its findings): inputs
// that made a reader throw something other than its documented error (a RangeError from an int64
// that does not fit a JS number), exhaust memory (a label per declared class, random verification
// inputs of a declared size) or allocate without bound. Each must now be a clean refusal, in the
// libraries and through the `model` CLI.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { type AttributeProto, type ModelProto, ModelValidationError, OnnxDecodeError, decodeModel, encodeModel, inspectModel, validateModel } from '@edge-ssd/onnx-io';
import { CaffeImportError, MAX_SSD_CLASSES, importCaffe } from '@edge-ssd/importers';
import { MAX_VERIFY_INPUT_ELEMENTS, foldBatchNorm, verifyFold } from '@edge-ssd/bn-fuse';
import { tinySsdNet, writeCaffemodel } from '@edge-ssd/importers/testing';
import { convBnModel, producerBnModel, tempDir } from '@edge-ssd/onnx-io/testing';
import { type CliRun, listDir, runCli } from './helpers';

const BEYOND_2_53 = 2n ** 62n;

const cli = (...args: string[]): CliRun => runCli(args);

function intAttr(name: string, i: bigint): AttributeProto {
  return { name, type: 2, i, floats: [], ints: [], strings: [], tensors: [], graphs: [], sparse_tensors: [], type_protos: [] };
}

/** Encodes and decodes, as a model read from a file would be. */
function roundTrip(m: ModelProto): ModelProto {
  return decodeModel(encodeModel(m));
}

describe('int64 values beyond 2^53 in an ONNX model', () => {
  it('a declared dim (the fuzzer found it in an output shape): inspect reports it unknown, validation refuses it', () => {
    const m = convBnModel();
    const out = m.graph?.output[0].type?.tensor_type?.shape?.dim[0];
    if (!out) throw new Error('no output dim');
    delete out.dim_param;
    out.dim_value = BEYOND_2_53 + 1n;
    const bytes = encodeModel(m);
    expect(inspectModel(bytes).outputs[0].shape).toEqual([null, 6, 6, 6]);
    expect(() => validateModel(decodeModel(bytes))).toThrow(new ModelValidationError("graph output 'y': dimension 4611686018427387905 is out of range"));
  });

  it('ir_version and opset versions: refused when decoding', () => {
    const ir = convBnModel();
    ir.ir_version = BEYOND_2_53;
    expect(() => decodeModel(encodeModel(ir))).toThrow(new OnnxDecodeError('not an ONNX model: ir_version 4611686018427387904 is out of range'));
    const opset = convBnModel();
    opset.opset_import[0].version = BEYOND_2_53;
    expect(() => inspectModel(encodeModel(opset))).toThrow(new OnnxDecodeError("not an ONNX model: opset_import '' version 4611686018427387904 is out of range"));
  });

  it('initializer dims: negative, beyond 2^53, or an element count beyond 2^53 are refused by validation and left by the fold', () => {
    for (const [dims, why] of [
      [[BEYOND_2_53, 2n, 3n, 3n], "dimension 4611686018427387904 is not a size (dims [4611686018427387904, 2, 3, 3])"],
      [[6n, -4n, 3n, -3n], 'dimension -4 is not a size (dims [6, -4, 3, -3])'],
      [[6n, 2n ** 40n, 2n ** 20n, 1n], 'dims [6, 1099511627776, 1048576, 1] hold more elements than can be counted'],
    ] as const) {
      const m = roundTrip(convBnModel());
      const w = m.graph?.initializer.find((t) => t.name === 'W');
      if (!w) throw new Error('no W');
      w.dims = [...dims];
      // Typed storage: before the fix the fold allocated a buffer of the declared size.
      delete w.raw_data;
      w.float_data = [1, 2, 3];
      expect(() => validateModel(m)).toThrow(new ModelValidationError(`initializer 'W': ${why}`));
      const { report } = foldBatchNorm(m);
      expect([report.batchNormFolded, report.left[0]?.code]).toEqual([0, 'unreadable-tensor']);
    }
  });

  it('INT attributes (group, transB) beyond 2^53: the BN is left with a reason, the fold does not throw', () => {
    const conv = roundTrip(convBnModel());
    const convNode = conv.graph?.node[0];
    if (!convNode) throw new Error('no conv');
    convNode.attribute = [...convNode.attribute.filter((a) => a.name !== 'group'), intAttr('group', BEYOND_2_53)];
    expect(foldBatchNorm(conv).report.left.map((l) => l.code)).toEqual(['shape-mismatch']);
    const gemm = roundTrip(producerBnModel({ op: 'Gemm' }));
    const node = gemm.graph?.node.find((n) => n.op_type === 'Gemm');
    if (!node) throw new Error('no gemm');
    node.attribute = [...node.attribute.filter((a) => a.name !== 'transB'), intAttr('transB', BEYOND_2_53)];
    expect(foldBatchNorm(gemm).report.left.map((l) => l.code)).toEqual(['shape-mismatch']);
  });
});

describe('sizes declared for free', () => {
  it(`a Caffe DetectionOutput declaring 2^31 classes is refused before a label is made for each (limit ${MAX_SSD_CLASSES})`, () => {
    const fixture = tinySsdNet();
    const weights = writeCaffemodel(fixture.layers);
    const prototxt = fixture.prototxt.replace(/num_classes: \d+/, 'num_classes: 2147483647');
    expect(MAX_SSD_CLASSES).toBe(100000);
    expect(() => importCaffe(prototxt, weights)).toThrow(CaffeImportError);
    expect(() => importCaffe(prototxt, weights)).toThrow(/num_classes 2147483647 is more than the 100000 this importer accepts/);
    // The CLI: exit 2, one line, nothing written.
    const dir = tempDir('fuzz-findings-caffe');
    try {
      fs.writeFileSync(path.join(dir, 'deploy.prototxt'), prototxt);
      fs.writeFileSync(path.join(dir, 'w.caffemodel'), weights);
      const r = cli('import-caffe', '--prototxt', path.join(dir, 'deploy.prototxt'), '--caffemodel', path.join(dir, 'w.caffemodel'), '--output', path.join(dir, 'out.onnx'));
      expect([r.status, r.stdout]).toEqual([2, '']);
      expect(r.stderr.trim().split('\n')).toEqual([expect.stringMatching(/^model: .*num_classes 2147483647 is more than the 100000 this importer accepts/)]);
      expect(listDir(dir)).toEqual(['deploy.prototxt', 'w.caffemodel']);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it(`verification refuses inputs over ${MAX_VERIFY_INPUT_ELEMENTS} elements instead of generating them`, async () => {
    const m = convBnModel();
    const dims = m.graph?.input[0].type?.tensor_type?.shape?.dim ?? [];
    dims[2] = { dim_value: 100000 };
    dims[3] = { dim_value: 100000 };
    const bytes = encodeModel(m);
    const r = await verifyFold(bytes, bytes);
    expect(r.ok).toBe(false);
    expect(r.error).toBe(`the model's inputs (X[2,4,100000,100000]) have 80000000000 elements, more than the ${MAX_VERIFY_INPUT_ELEMENTS} verification generates; convert with --no-verify to skip it`);
  });

  it('the CLI: a model declaring a 100000x100000 input exits 1 with one line and writes nothing; --no-verify converts it', () => {
    const dir = tempDir('fuzz-findings');
    try {
      const m = convBnModel();
      const dims = m.graph?.input[0].type?.tensor_type?.shape?.dim ?? [];
      dims[2] = { dim_value: 100000 };
      dims[3] = { dim_value: 100000 };
      const input = path.join(dir, 'huge.onnx');
      fs.writeFileSync(input, encodeModel(m));
      const out = path.join(dir, 'out.onnx');
      const r = cli('convert', '--input', input, '--output', out);
      expect(r.status).toBe(1);
      expect(r.stderr.trim().split('\n')).toEqual([expect.stringMatching(/^model: verification failed: the model's inputs \(X\[2,4,100000,100000\]\) have 80000000000 elements, more than the 67108864 verification generates; convert with --no-verify to skip it; nothing written$/)]);
      // The report says why, too.
      expect(r.stdout).toContain("  error: the model's inputs (X[2,4,100000,100000]) have 80000000000 elements");
      expect(listDir(dir)).toEqual(['huge.onnx']);
      const unverified = cli('convert', '--input', input, '--output', out, '--no-verify');
      expect([unverified.status, unverified.stderr]).toEqual([0, '']);
      expect(inspectModel(fs.readFileSync(out)).inputs[0].shape).toEqual(['N', 4, 100000, 100000]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
