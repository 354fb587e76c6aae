import * as crypto from 'node:crypto';
import * as ort from 'onnxruntime-node';
import * as protobuf from 'protobufjs';
import { MOBILENET_SSD_VOC_300, SSD_SPEC_METADATA_KEY } from '@edge-ssd/ssd-core';
import { AttributeType, type ModelProto, decodeModel, inspectModel, int64ToNumber, readTensorFloat64 } from '@edge-ssd/onnx-io';
import { initializer } from '@edge-ssd/onnx-io/testing';
import { DEFAULT_MODEL_SEED, writeMobileNetSsd } from '../src';
import { MOBILENET_SSD_HEADS, MOBILENET_SSD_LAYERS } from '../src/seeded/mobilenet-ssd';
import { countDetections, gradientImage, noiseImage } from './seeded-helpers';

/**
 * sha256 of the default model's GraphProto (weights, nodes, names). The model must be the same on
 * every machine; this pins it. Update it only for an intended change to the writer.
 */
const DEFAULT_GRAPH_SHA256 = '5e156c09215f94f7a6984dc00407d13d5a0bfce9c92289d90d35b457397bea0d';

/** The GraphProto bytes inside an encoded ModelProto (field 7), as they are on the wire. */
function graphProtoBytes(model: Uint8Array): Uint8Array {
  const r = protobuf.Reader.create(model);
  while (r.pos < r.len) {
    const tag = r.uint32();
    if (tag >>> 3 === 7) return r.bytes();
    r.skipType(tag & 7);
  }
  throw new Error('the model has no graph');
}

describe('writeMobileNetSsd (default model)', () => {
  let bytes: Uint8Array;
  let model: ModelProto;
  let session: ort.InferenceSession;

  beforeAll(async () => {
    bytes = writeMobileNetSsd();
    model = decodeModel(bytes);
    session = await ort.InferenceSession.create(bytes, { graphOptimizationLevel: 'disabled' });
  });
  afterAll(async () => {
    await session?.release();
  });

  it('declares input data [N,3,300,300] and outputs mbox_loc [N,1917,4], mbox_conf [N,1917,21]', () => {
    const info = inspectModel(bytes);
    expect(info.inputs).toEqual([{ name: 'data', elemType: 1, shape: ['N', 3, 300, 300] }]);
    expect(info.outputs).toEqual([
      { name: 'mbox_loc', elemType: 1, shape: ['N', 1917, 4] },
      { name: 'mbox_conf', elemType: 1, shape: ['N', 1917, 21] },
    ]);
    expect(info.opsetVersion).toBe(17);
    expect(info.irVersion).toBe(8);
  });

  it.each([1, 3])('runs in onnxruntime with batch %i and produces [N,1917,4] and [N,1917,21]', async (n) => {
    const data = new Float32Array(n * 3 * 300 * 300);
    for (let i = 0; i < n; i++) data.set(i % 2 === 0 ? gradientImage() : noiseImage(i), i * 270000);
    const out = await session.run({ data: new ort.Tensor('float32', data, [n, 3, 300, 300]) });
    expect(out.mbox_loc.dims).toEqual([n, 1917, 4]);
    expect(out.mbox_conf.dims).toEqual([n, 1917, 21]);
    expect((out.mbox_loc.data as Float32Array).every(Number.isFinite)).toBe(true);
  });

  it('outputs class probabilities: every softmax row sums to 1', async () => {
    const out = await session.run({ data: new ort.Tensor('float32', noiseImage(5), [1, 3, 300, 300]) });
    const conf = out.mbox_conf.data as Float32Array;
    let worst = 0;
    for (let p = 0; p < 1917; p++) {
      let sum = 0;
      for (let c = 0; c < 21; c++) sum += conf[p * 21 + c];
      worst = Math.max(worst, Math.abs(sum - 1));
    }
    expect(worst).toBeLessThan(1e-5);
    expect(Math.min(...conf)).toBeGreaterThanOrEqual(0);
  });

  it.each([
    ['a smooth gradient', gradientImage()],
    ['uniform noise', noiseImage(11)],
  ])('gives a handful of non-background detections on %s, not none and not nearly all priors', async (_what, image) => {
    const out = await session.run({ data: new ort.Tensor('float32', image, [1, 3, 300, 300]) });
    const counts = countDetections(out.mbox_loc.data as Float32Array, out.mbox_conf.data as Float32Array);
    // Scores above 0.25 for a non-background class: some, but far from every prior.
    expect(counts.candidates).toBeGreaterThanOrEqual(2);
    expect(counts.candidates).toBeLessThan(200);
    // After NMS (IoU 0.45) and keep_top_k 100: a realistic handful, not capped.
    expect(counts.detections).toBeGreaterThanOrEqual(2);
    expect(counts.detections).toBeLessThan(100);
    expect(counts.classes.length).toBeGreaterThanOrEqual(2);
  });

  it('is deterministic: writing again with the same fixed seed gives identical bytes', () => {
    const again = writeMobileNetSsd({ seed: DEFAULT_MODEL_SEED });
    expect(Buffer.from(again).equals(Buffer.from(bytes))).toBe(true);
    expect(crypto.createHash('sha256').update(graphProtoBytes(bytes)).digest('hex')).toBe(DEFAULT_GRAPH_SHA256);
  });

  it('has 35 Conv -> BatchNormalization -> Relu blocks named after the Caffe layers', () => {
    const nodes = model.graph?.node ?? [];
    const byName = new Map(nodes.map((n) => [n.name, n]));
    expect(nodes.filter((n) => n.op_type === 'BatchNormalization')).toHaveLength(35);
    for (const layer of MOBILENET_SSD_LAYERS) {
      const conv = byName.get(layer.name);
      const bn = byName.get(`${layer.name}/bn`);
      const relu = byName.get(`${layer.name}/relu`);
      expect(conv?.op_type).toBe('Conv');
      expect(conv?.input).toHaveLength(2); // no bias
      const group = conv?.attribute.find((a) => a.name === 'group');
      expect(int64ToNumber(group?.i)).toBe(layer.group);
      expect(bn?.op_type).toBe('BatchNormalization');
      expect(bn?.input[0]).toBe(conv?.output[0]);
      const eps = bn?.attribute.find((a) => a.name === 'epsilon');
      expect(eps?.type).toBe(AttributeType.FLOAT);
      expect(eps?.f).toBeCloseTo(1e-5, 12);
      expect(relu?.op_type).toBe('Relu');
      expect(relu?.input[0]).toBe(bn?.output[0]);
    }
    expect(MOBILENET_SSD_LAYERS.filter((l) => l.group > 1 && l.group === l.inChannels)).toHaveLength(13);
  });

  it('feeds the six heads from the post-ReLU tensors, with biased 1x1 convs and the Caffe names', () => {
    const nodes = model.graph?.node ?? [];
    for (const head of MOBILENET_SSD_HEADS) {
      for (const kind of ['loc', 'conf']) {
        const conv = nodes.find((n) => n.name === `${head.source}_mbox_${kind}`);
        expect(conv?.input).toEqual([`${head.source}/relu`, `${head.source}_mbox_${kind}/W`, `${head.source}_mbox_${kind}/B`]);
        const perm = nodes.find((n) => n.name === `${head.source}_mbox_${kind}_perm`);
        expect(perm?.op_type).toBe('Transpose');
        expect(perm?.attribute[0].ints).toEqual([0, 2, 3, 1]);
      }
    }
    const softmax = nodes.find((n) => n.op_type === 'Softmax');
    expect(softmax?.output).toEqual(['mbox_conf']);
  });

  it('carries the SSD spec (metadata ssd.spec) and producer_name edge-ssd', () => {
    expect(model.producer_name).toBe('edge-ssd');
    const meta = inspectModel(bytes).metadata;
    expect(Object.keys(meta)).toEqual([SSD_SPEC_METADATA_KEY]);
    expect(JSON.parse(meta[SSD_SPEC_METADATA_KEY])).toEqual(JSON.parse(JSON.stringify(MOBILENET_SSD_VOC_300)));
  });

  it('has realistic BatchNorm statistics: positive variances, nonzero means, non-trivial gamma and beta', () => {
    let negativeGamma = 0;
    for (const layer of MOBILENET_SSD_LAYERS) {
      const variance = readTensorFloat64(initializer(model, `${layer.name}/bn/var`));
      const mean = readTensorFloat64(initializer(model, `${layer.name}/bn/mean`));
      const gamma = readTensorFloat64(initializer(model, `${layer.name}/bn/scale`));
      const beta = readTensorFloat64(initializer(model, `${layer.name}/bn/B`));
      expect(Math.min(...variance)).toBeGreaterThan(1e-4);
      expect(Math.max(...variance)).toBeLessThan(1e4);
      expect(mean.some((m) => Math.abs(m) > 1e-3)).toBe(true);
      expect(new Set(gamma).size).toBeGreaterThan(gamma.length / 2);
      expect(beta.some((b) => b !== 0)).toBe(true);
      negativeGamma += gamma.filter((g) => g < 0).length;
    }
    expect(negativeGamma).toBeGreaterThan(0);
  });
});
