// The quantizer end to end on a small seeded SSD (Conv + Relu, depthwise Conv + Clip(0, 6), 1x1
// Conv, two heads) and synthetic images: the QDQ structure, the ONNX checker, onnxruntime's fusion
// into QLinearConv, determinism, --keep-fp32, metadata, the precision loadModel reports, and the
// refusal to write below the agreement threshold.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as ort from 'onnxruntime-node';
import { DataType, type ModelProto, type NodeProto, type TensorProto, decodeModel, readTensorFloat64 } from '@edge-ssd/onnx-io';
import { OnnxChecker, pythonOnnxAvailable, tempDir } from '@edge-ssd/onnx-io/testing';
import { SSD_SPEC_METADATA_KEY } from '@edge-ssd/ssd-core';
import { PRECISION_METADATA_KEY, loadModel } from '@edge-ssd/ssd-pipeline';
import { AgreementError, parseTable, quantize, quantizeFromTable, serializeTable } from '../src';
import { smallConvSsd, writeImages } from './fixtures';

const itOnnx = pythonOnnxAvailable() ? it : it.skip;
const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

let dir: string;
let fp32: string;
let calibration: string[];
let evaluation: string[];

beforeAll(async () => {
  dir = tempDir('quantize');
  fp32 = path.join(dir, 'small.onnx');
  fs.writeFileSync(fp32, smallConvSsd());
  calibration = await writeImages(path.join(dir, 'calib'), 6, 1);
  evaluation = await writeImages(path.join(dir, 'eval'), 4, 2);
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const out = (name: string) => path.join(dir, name);
const base = () => ({ calibration, evaluation, timing: false, minAgreement: 0 });

function producers(model: ModelProto): Map<string, NodeProto> {
  return new Map(model.graph!.node.flatMap((n) => n.output.map((o) => [o, n] as const)));
}

function initializer(model: ModelProto, name: string): TensorProto | undefined {
  return model.graph!.initializer.find((t) => t.name === name);
}

describe('the QDQ rewrite', () => {
  let model: ModelProto;
  beforeAll(async () => {
    await quantize(fp32, out('int8.onnx'), { ...base(), tableOutput: out('table.json') });
    model = decodeModel(fs.readFileSync(out('int8.onnx')));
  });

  it('feeds every Conv from DequantizeLinear: uint8 activation (from a QuantizeLinear), int8 per-channel weight, int32 bias', () => {
    const by = producers(model);
    const convs = model.graph!.node.filter((n) => n.op_type === 'Conv');
    expect(convs.map((c) => c.name)).toEqual(['conv0', 'conv1/dw', 'conv1', 'head_loc', 'head_conf']);
    for (const conv of convs) {
      const [x, w, b] = conv.input.map((i) => by.get(i)!);
      expect([x.op_type, w.op_type, b.op_type]).toEqual(['DequantizeLinear', 'DequantizeLinear', 'DequantizeLinear']);
      expect(by.get(x.input[0])?.op_type ?? 'graph input').toBe('QuantizeLinear');
      expect(initializer(model, x.input[2])!.data_type).toBe(DataType.UINT8);
      const wq = initializer(model, w.input[0])!;
      expect(wq.data_type).toBe(DataType.INT8);
      expect(initializer(model, w.input[1])!.dims).toEqual([wq.dims[0]]);
      expect(w.attribute.find((a) => a.name === 'axis')?.i).toBe(0);
      expect(Array.from(initializer(model, w.input[2])!.raw_data!)).toEqual(new Array(Number(wq.dims[0])).fill(0));
      expect(initializer(model, b.input[0])!.data_type).toBe(DataType.INT32);
      // The bias scale is input scale x weight scale, channel by channel.
      const inScale = readTensorFloat64(initializer(model, x.input[1])!)[0];
      const wScales = readTensorFloat64(initializer(model, w.input[1])!);
      expect(Array.from(readTensorFloat64(initializer(model, b.input[1])!))).toEqual(Array.from(wScales, (s) => Math.fround(inScale * s)));
    }
  });

  it('puts one DequantizeLinear before each consumer and a QuantizeLinear after each activation (after its Relu / Clip)', () => {
    const nodes = model.graph!.node;
    const dq = nodes.filter((n) => n.op_type === 'DequantizeLinear');
    expect(new Set(dq.map((n) => n.output[0])).size).toBe(dq.length);
    for (const n of dq) expect(nodes.filter((m) => m.input.includes(n.output[0]))).toHaveLength(1);
    const q = nodes.filter((n) => n.op_type === 'QuantizeLinear').map((n) => n.input[0]);
    expect(q).toEqual(['data', 'conv0/relu', 'conv1/dw/relu6', 'conv1/relu', 'head_loc', 'head_conf']);
    // The graph outputs stay float, straight from the float Reshape / Softmax.
    const by = producers(model);
    expect(model.graph!.output.map((o) => by.get(o.name!)!.op_type)).toEqual(['Reshape', 'Softmax']);
  });

  it('keeps the weights within half a step per channel (int8 x scale vs the fp32 weights)', () => {
    const source = decodeModel(fs.readFileSync(fp32));
    for (const name of ['conv0/W', 'conv1/dw/W', 'conv1/W', 'head_loc/W']) {
      const w = readTensorFloat64(initializer(source, name)!);
      const q = Int8Array.from(initializer(model, `${name}_quantized`)!.raw_data!, (b) => (b << 24) >> 24);
      const scales = readTensorFloat64(initializer(model, `${name}_scale`)!);
      const per = w.length / scales.length;
      w.forEach((v, i) => expect(Math.abs(v - q[i] * scales[Math.floor(i / per)])).toBeLessThanOrEqual(scales[Math.floor(i / per)] / 2 + 1e-9));
    }
  });

  itOnnx('passes onnx.checker (full_check) and re-serialises byte for byte in python3-onnx', () => {
    const checker = new OnnxChecker('quantize');
    try {
      checker.addFile(out('int8.onnx'));
      expect(checker.run()).toBe(1);
    } finally {
      checker.cleanup();
    }
  });

  it('is fused by onnxruntime into QLinearConv (every Conv, its Relu / Clip absorbed)', async () => {
    const optimized = out('optimized.onnx');
    const session = await ort.InferenceSession.create(out('int8.onnx'), { graphOptimizationLevel: 'extended', optimizedModelFilePath: optimized });
    await session.release();
    const ops = decodeModel(fs.readFileSync(optimized)).graph!.node.map((n) => n.op_type);
    expect(ops.filter((o) => o === 'QLinearConv')).toHaveLength(5);
    expect(ops.filter((o) => o === 'Conv' || o === 'Relu' || o === 'Clip')).toEqual([]);
  });

  it('carries the metadata over and adds ssd.precision = int8, which loadModel reports', async () => {
    const source = decodeModel(fs.readFileSync(fp32));
    const meta = (m: ModelProto) => Object.fromEntries(m.metadata_props.map((p) => [p.key, p.value]));
    expect(meta(model)[SSD_SPEC_METADATA_KEY]).toBe(meta(source)[SSD_SPEC_METADATA_KEY]);
    expect(meta(model)['test.carried']).toBe('over');
    expect(meta(model)[PRECISION_METADATA_KEY]).toBe('int8');
    expect(JSON.parse(meta(model)['ssd.quantization']!)).toEqual({ method: 'percentile', percentile: 99.99, tableSha256: sha256(fs.readFileSync(out('table.json'))), keepFp32: [] });
    const loaded = await loadModel(out('int8.onnx'));
    expect(loaded.precision).toBe('int8');
    expect(loaded.spec).toEqual((await loadModel(fp32)).spec);
  });
});

describe('determinism', () => {
  it('gives the same bytes twice, and from its table the same bytes as from calibration', async () => {
    await quantize(fp32, out('a.onnx'), { ...base(), tableOutput: out('a.json') });
    await quantize(fp32, out('b.onnx'), { ...base(), tableOutput: out('b.json') });
    const a = fs.readFileSync(out('a.onnx'));
    expect(sha256(fs.readFileSync(out('b.onnx')))).toBe(sha256(a));
    expect(fs.readFileSync(out('b.json'), 'utf8')).toBe(fs.readFileSync(out('a.json'), 'utf8'));
    await quantize(fp32, out('c.onnx'), { fromTable: out('a.json'), timing: false });
    expect(sha256(fs.readFileSync(out('c.onnx')))).toBe(sha256(a));
    const table = parseTable(fs.readFileSync(out('a.json'), 'utf8'));
    expect(sha256(quantizeFromTable(fs.readFileSync(fp32), table).bytes)).toBe(sha256(a));
    expect(serializeTable(table)).toBe(fs.readFileSync(out('a.json'), 'utf8'));
  });

  it('records the images by sha256 and each method gives its own ranges', async () => {
    const tables = [];
    for (const method of ['minmax', 'percentile', 'entropy'] as const) {
      await quantize(fp32, out(`${method}.onnx`), { ...base(), method, tableOutput: out(`${method}.json`) });
      tables.push(parseTable(fs.readFileSync(out(`${method}.json`), 'utf8')));
    }
    const [minmax, percentile, entropy] = tables;
    expect(minmax.images.map((i) => i.file)).toEqual(calibration.map((f) => path.basename(f)));
    expect(minmax.images[0].sha256).toBe(sha256(fs.readFileSync(calibration[0])));
    expect(minmax.evaluation!.map((i) => i.file)).toEqual(evaluation.map((f) => path.basename(f)));
    expect(Object.keys(minmax.ranges)).toEqual(['data', 'conv0/relu', 'conv1/dw/relu6', 'conv1/relu', 'head_loc', 'head_conf']);
    // The input's range is the preprocessing's, exactly; the others are measured.
    for (const t of tables) expect(t.ranges.data).toEqual([Math.fround(-127.5 * 0.007843), Math.fround(127.5 * 0.007843)]);
    for (const name of Object.keys(minmax.ranges).slice(1)) {
      for (const t of [percentile, entropy]) {
        expect(t.ranges[name][0]).toBeGreaterThanOrEqual(minmax.ranges[name][0]);
        expect(t.ranges[name][1]).toBeLessThanOrEqual(minmax.ranges[name][1]);
      }
    }
    expect(minmax.ranges['conv1/dw/relu6'][1]).toBeLessThanOrEqual(6);
    expect(JSON.stringify(percentile.ranges)).not.toBe(JSON.stringify(minmax.ranges));
  });
});

describe('--keep-fp32', () => {
  it("leaves the heads (or named nodes) in fp32: float weights, no Q on their outputs, and says so", async () => {
    const r = await quantize(fp32, out('keep.onnx'), { ...base(), keepFp32: ['heads', 'conv1/d*'] });
    expect(r.summary.kept).toEqual(['conv1/dw', 'head_loc', 'head_conf']);
    const model = decodeModel(fs.readFileSync(out('keep.onnx')));
    const convs = new Map(model.graph!.node.filter((n) => n.op_type === 'Conv').map((n) => [n.name, n]));
    for (const name of ['conv1/dw', 'head_loc', 'head_conf']) expect(convs.get(name)!.input.slice(1)).toEqual([`${name}/W`, `${name}/B`]);
    expect(convs.get('conv1')!.input[1]).toBe('conv1/W_dequantized');
    const q = model.graph!.node.filter((n) => n.op_type === 'QuantizeLinear').map((n) => n.input[0]);
    expect(q).toEqual(['data', 'conv0/relu', 'conv1/dw/relu6', 'conv1/relu']);
    expect(JSON.parse(model.metadata_props.find((p) => p.key === 'ssd.quantization')!.value!).keepFp32).toEqual(['heads', 'conv1/d*']);
  });

  it('refuses a pattern that matches no node', () => {
    const table = parseTable(fs.readFileSync(out('a.json'), 'utf8'));
    expect(() => quantizeFromTable(fs.readFileSync(fp32), table, ['conv9'])).toThrow("--keep-fp32 'conv9' matches no node");
  });
});

describe('refusals', () => {
  it('writes nothing when agreement is below the threshold, and names the threshold', async () => {
    // Scores must match exactly: no INT8 model does, so the agreement falls to 0.
    const strict = { minScore: 0.2, minIou: 0.85, scoreTolerance: 0 };
    const err = await quantize(fp32, out('refused.onnx'), { ...base(), minAgreement: 1, criteria: strict, tableOutput: out('refused.json') }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AgreementError);
    const e = err as AgreementError;
    expect(e.message).toMatch(/below the threshold 1 on the calibration images \(0\.\d+\) and the evaluation images \(0\.\d+\); nothing written/);
    expect(e.result.agreements.map((a) => a.agreement.references)).toEqual([expect.any(Number), expect.any(Number)]);
    expect(e.result.agreements[1].agreement.references).toBeGreaterThan(0);
    expect(fs.existsSync(out('refused.onnx'))).toBe(false);
    expect(fs.existsSync(out('refused.json'))).toBe(false);
  });

  it('refuses a table measured on another model, evaluation images that were calibrated on, and overwriting the input', async () => {
    const table = parseTable(fs.readFileSync(out('a.json'), 'utf8'));
    expect(() => quantizeFromTable(smallConvSsd(8), table)).toThrow(/measured on the model with sha256 [0-9a-f]{64}, not on this one/);
    await expect(quantize(fp32, out('x.onnx'), { ...base(), evaluation: [calibration[1]] })).rejects.toThrow(/must differ from the calibration images: img01\.png/);
    await expect(quantize(fp32, fp32, { ...base() })).rejects.toThrow(/is the input file/);
    expect(() => parseTable('{"format": "x"}')).toThrow(/format must be/);
    expect(() => parseTable(JSON.stringify({ ...table, ranges: { a: [2, 1] } }))).toThrow(/range of 'a'/);
  });
});
