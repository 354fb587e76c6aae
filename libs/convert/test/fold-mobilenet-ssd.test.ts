// The fold on the real network: the seeded MobileNet-SSD (35 Conv -> BatchNormalization -> ReLU
// blocks) folded and checked against an independent float64 fold and onnxruntime.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { type FoldResult, foldBatchNorm, verifyFold } from '@edge-ssd/bn-fuse';
import { expectedFold, isTopologicallySorted, worstToleranceRatio } from '@edge-ssd/bn-fuse/testing';
import { writeMobileNetSsd } from '@edge-ssd/importers';
import { type ModelProto, attachLazyData, concatChunks, decodeModel, encodeModel, encodeModelChunks, inspectModel, makeFloatTensor, readModelFile, readTensorFloat64 } from '@edge-ssd/onnx-io';
import { graphOf, initializer, nodeNamed, opTypes } from '@edge-ssd/onnx-io/testing';

describe('foldBatchNorm on the default MobileNet-SSD', () => {
  let originalBytes: Uint8Array;
  let original: ModelProto;
  let result: FoldResult;
  let foldedBytes: Uint8Array;

  beforeAll(() => {
    originalBytes = writeMobileNetSsd();
    original = decodeModel(originalBytes);
    result = foldBatchNorm(original);
    foldedBytes = encodeModel(result.model);
  });

  it('folds all 35 BatchNormalization nodes and leaves none', () => {
    expect(result.report).toMatchObject({ batchNormFound: 35, batchNormFolded: 35, batchNormLeft: 0, left: [], nodesBefore: 144, nodesAfter: 109 });
    expect(inspectModel(foldedBytes).batchNormCount).toBe(0);
    expect(opTypes(result.model).filter((t) => t === 'Conv')).toHaveLength(47);
    expect(result.report.folded.every((f) => Math.abs(f.epsilon - 1e-5) < 1e-12)).toBe(true);
  });

  it('gives outputs within rtol 1e-4 / atol 1e-5 of the unfused model (onnxruntime, optimizations disabled)', async () => {
    const v = await verifyFold(originalBytes, foldedBytes, { rtol: 1e-4, atol: 1e-5 });
    expect(v.error).toBeUndefined();
    expect(v.outputs.map((o) => [o.name, o.shape])).toEqual([
      ['mbox_loc', [2, 1917, 4]],
      ['mbox_conf', [2, 1917, 21]],
    ]);
    expect(v.ok).toBe(true);
    expect(v.maxAbsError).toBeGreaterThan(0); // the runs really differ: the comparison is not vacuous
    expect(v.maxAbsError).toBeLessThan(1e-4);
  });

  it('detects a wrong fold: a perturbed fused weight fails verification', async () => {
    const broken = decodeModel(foldedBytes);
    const conv = nodeNamed(broken, 'conv5');
    const w = initializer(broken, conv.input[1]);
    const values = readTensorFloat64(w);
    values[0] *= 1.01;
    const index = graphOf(broken).initializer.indexOf(w);
    graphOf(broken).initializer[index] = makeFloatTensor(w.name ?? '', w.dims.map(Number), values);
    const v = await verifyFold(originalBytes, encodeModel(broken));
    expect(v.ok).toBe(false);
  });

  it('keeps inputs, outputs, metadata, opset, IR version and BN output names; order stays topological', () => {
    const g = graphOf(result.model);
    const g0 = graphOf(original);
    expect(g.input).toEqual(g0.input);
    expect(g.output).toEqual(g0.output);
    expect(result.model.metadata_props).toEqual(original.metadata_props);
    expect(result.model.opset_import).toEqual(original.opset_import);
    expect(result.model.ir_version).toBe(original.ir_version);
    expect(result.model.producer_name).toBe('edge-ssd');
    expect(nodeNamed(result.model, 'conv0').output).toEqual(['conv0/bn']);
    expect(nodeNamed(result.model, 'conv0/relu').input).toEqual(['conv0/bn']);
    expect(isTopologicallySorted(g)).toBe(true);
    const names = g.initializer.map((t) => t.name);
    expect(new Set(names).size).toBe(names.length);
    expect(names.some((n) => n?.includes('/bn/'))).toBe(false);
  });

  it('stores fused depthwise and dense weights equal to a float64 evaluation of the formula', () => {
    for (const name of ['conv1/dw', 'conv15_2']) {
      const expected = expectedFold(original, nodeNamed(original, `${name}/bn`), nodeNamed(original, name));
      const fused = nodeNamed(result.model, name);
      expect(worstToleranceRatio(readTensorFloat64(initializer(result.model, fused.input[1])), expected.w, 1e-6, 1e-30)).toBeLessThanOrEqual(1);
      expect(worstToleranceRatio(readTensorFloat64(initializer(result.model, fused.input[2])), expected.b, 1e-6, 1e-30)).toBeLessThanOrEqual(1);
    }
  });

  it('is idempotent: folding the folded model changes nothing', () => {
    const again = foldBatchNorm(decodeModel(foldedBytes));
    expect(again.report.batchNormFound).toBe(0);
    expect(Buffer.from(encodeModel(again.model)).equals(Buffer.from(foldedBytes))).toBe(true);
  });

  it('encodeModelChunks gives exactly the bytes of encodeModel, for the original and the folded model', () => {
    for (const [model, bytes] of [[original, originalBytes], [result.model, foldedBytes]] as const) {
      const chunks = encodeModelChunks(model);
      expect(chunks.length).toBeGreaterThan(10);
      expect(Buffer.from(concatChunks(chunks)).equals(Buffer.from(bytes))).toBe(true);
    }
  });

  it('reads the model file with large raw data left in the file, and folds it to the same bytes', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bn-fuse-lazy-'));
    try {
      const file = path.join(dir, 'm.onnx');
      fs.writeFileSync(file, originalBytes);
      const f = readModelFile(file);
      try {
        expect(f.skeleton.byteLength).toBeLessThan(originalBytes.byteLength / 50);
        expect(f.lazy.length).toBeGreaterThan(40);
        const lazy = decodeModel(f.skeleton);
        attachLazyData(lazy, f);
        expect(Buffer.from(encodeModel(lazy)).equals(Buffer.from(originalBytes))).toBe(true);
        const folded = foldBatchNorm(lazy, { deferWeights: true });
        expect(folded.report.batchNormFolded).toBe(35);
        expect(Buffer.from(concatChunks(encodeModelChunks(folded.model))).equals(Buffer.from(foldedBytes))).toBe(true);
      } finally {
        f.close();
      }
      // A truncated file: the walker gives up and hands over the whole file for the decoder to reject.
      fs.writeFileSync(file, originalBytes.subarray(0, 1000000));
      const t = readModelFile(file);
      t.close();
      expect(t.lazy).toEqual([]);
      expect(t.skeleton.byteLength).toBe(1000000);
      expect(() => decodeModel(t.skeleton)).toThrow(/truncated or corrupt/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('does not modify the model it is given', () => {
    expect(Buffer.from(encodeModel(original)).equals(Buffer.from(originalBytes))).toBe(true);
  });
});

