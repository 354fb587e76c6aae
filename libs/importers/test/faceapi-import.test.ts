// The face-api importer: tfjs manifest reading and dequantisation (bit for bit against tfjs' own
// decodeWeights), the anchors, the ONNX graph (pads, epsilon, head permutations, the spec), and the
// front end importFaceApi (provenance, pinning, determinism, the ONNX reference checker). The
// command line around it: apps/model-cli/test/import-tfjs-cli.test.ts.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { SSD_SPEC_METADATA_KEY, SsdPostprocessor, parseSsdSpec } from '@edge-ssd/ssd-core';
import { foldBatchNorm } from '@edge-ssd/bn-fuse';
import { type ModelProto, type NodeProto, encodeModel, inspectModel, int64ToNumber, readTensorFloat64 } from '@edge-ssd/onnx-io';
import { OnnxChecker, pythonOnnxAvailable, tempDir } from '@edge-ssd/onnx-io/testing';
import {
  FACEAPI_BN_EPSILON,
  FACEAPI_SSD_SHA256,
  FACE_VERIFY_ATOL,
  FACE_VERIFY_RTOL,
  type ImportedModel,
  TfjsImportError,
  type TfjsWeights,
  decodeTfjsWeights,
  defaultFaceApiManifestPath,
  importFaceApi,
  readTfjsWeights,
} from '../src';
import { FACEAPI_INPUT_SCALE_CORRECTION, FACEAPI_SSD_HEADS, FACEAPI_SSD_LAYERS, FACEAPI_SSD_PRIOR_COUNT, buildFaceApiSsd, faceApiPriorTable, tfSamePadding } from '../src/tfjs/faceapi-ssd';
import type { TfjsWeightSpec } from '../src/tfjs/weights';
import { FACEAPI_BIN, FACEAPI_MANIFEST, silenceTfjsNodeHint } from './faceapi-helpers';

// Chosen when the tests are defined, so that jest reports the check as skipped (it throws, failing
// the file, when python3-onnx is missing and SSD_SKIP_ONNX_CHECKER is not set).
const itOnnx = pythonOnnxAvailable() ? it : it.skip;

function initializer(model: ModelProto, name: string): Float64Array {
  const t = model.graph?.initializer.find((i) => i.name === name);
  if (!t) throw new Error(`no initializer '${name}'`);
  return readTensorFloat64(t);
}

function attr(node: NodeProto, name: string): number[] | number | undefined {
  const a = node.attribute.find((x) => x.name === name);
  if (!a) return undefined;
  if (a.ints.length > 0) return a.ints.map((v) => int64ToNumber(v));
  if (a.f !== undefined) return a.f;
  return a.i === undefined ? undefined : int64ToNumber(a.i);
}

function bits(values: ArrayLike<number>): string {
  return Buffer.from(Float32Array.from(values).buffer).toString('hex');
}

describe('tfjs weights reader', () => {
  let weights: TfjsWeights;
  beforeAll(() => {
    silenceTfjsNodeHint();
    weights = readTfjsWeights(FACEAPI_MANIFEST);
  });

  it('reads the pinned @vladmandic/face-api@1.7.15 files: 151 tensors filling the .bin exactly', () => {
    expect(weights.files.map((f) => [path.basename(f.path), f.sha256])).toEqual(Object.entries(FACEAPI_SSD_SHA256));
    expect(weights.files[1].bytes).toBe(5616957);
    expect(weights.tensors.size).toBe(151);
    const all = [...weights.tensors.values()];
    expect(all.reduce((n, t) => n + t.byteLength, 0)).toBe(5616957);
    // 135 float32 and 15 int32 tensors quantised to uint8, one plain float32 tensor: the anchors.
    expect(all.filter((t) => t.storedAs === 'uint8' && t.dtype === 'float32')).toHaveLength(135);
    expect(all.filter((t) => t.storedAs === 'uint8' && t.dtype === 'int32')).toHaveLength(15);
    expect(all.filter((t) => t.storedAs === 'float32').map((t) => t.name)).toEqual(['Output/extra_dim']);
    const last = all[all.length - 1];
    expect(last.byteOffset + last.byteLength).toBe(5616957);
  });

  it('has every tensor the architecture needs, with the expected shapes', () => {
    const expected = new Map<string, number[]>();
    for (const l of FACEAPI_SSD_LAYERS) {
      if (l.kind === 'depthwise') {
        expected.set(`${l.scope}/depthwise_weights`, [3, 3, l.inChannels, 1]);
        for (const p of ['gamma', 'beta', 'moving_mean', 'moving_variance']) expected.set(`${l.scope}/BatchNorm/${p}`, [l.inChannels]);
      } else {
        expected.set(`${l.scope}/weights`, [l.kernel, l.kernel, l.inChannels, l.outChannels]);
        expected.set(`${l.scope}/convolution_bn_offset`, [l.outChannels]);
      }
    }
    for (const h of FACEAPI_SSD_HEADS) {
      expected.set(`${h.predictor}/BoxEncodingPredictor/weights`, [1, 1, h.inChannels, 4 * h.anchors]);
      expected.set(`${h.predictor}/BoxEncodingPredictor/biases`, [4 * h.anchors]);
      expected.set(`${h.predictor}/ClassPredictor/weights`, [1, 1, h.inChannels, 3 * h.anchors]);
      expected.set(`${h.predictor}/ClassPredictor/biases`, [3 * h.anchors]);
    }
    expected.set('Output/extra_dim', [1, 5118, 4]);
    expect(FACEAPI_SSD_LAYERS).toHaveLength(35);
    expect(expected.size).toBe(151 - 15 - 2); // minus the 15 int32 graph constants and 2 preprocessor scalars
    for (const [name, shape] of expected) expect([name, weights.tensors.get(name)?.shape]).toEqual([name, shape]);
    // The graph constants agree with the 512x512 layout.
    expect(Array.from(weights.tensors.get('Postprocessor/stack/1')?.values ?? [])).toEqual([5118]);
    expect(FACEAPI_SSD_HEADS.map((h, i) => weights.tensors.get(`Prediction/BoxPredictor_${i}/stack_1/1`)?.values[0])).toEqual([3072, 1536, 384, 96, 24, 6]);
    expect(weights.tensors.get('Preprocessor/mul/x')?.values[0]).toBe(Math.fround(0.007843137718737125));
  });

  it('dequantises bit for bit as tfjs io.decodeWeights does', () => {
    const manifest = JSON.parse(fs.readFileSync(FACEAPI_MANIFEST, 'utf8')) as { weights: tf.io.WeightsManifestEntry[] }[];
    const bin = fs.readFileSync(FACEAPI_BIN);
    const ref = tf.io.decodeWeights(bin.buffer.slice(bin.byteOffset, bin.byteOffset + bin.byteLength), manifest[0].weights);
    try {
      expect(Object.keys(ref)).toEqual([...weights.tensors.keys()]);
      for (const [name, t] of weights.tensors) {
        const r = ref[name];
        expect([name, r.dtype, r.shape]).toEqual([name, t.dtype, t.shape]);
        expect(Buffer.from(r.dataSync().buffer).equals(Buffer.from(t.values.buffer))).toBe(true);
      }
    } finally {
      tf.dispose(Object.values(ref));
    }
    // One value by hand: q * scale + min in double, rounded once to float32.
    const spec = manifest[0].weights.find((w) => w.name === 'MobilenetV1/Conv2d_0_pointwise/weights');
    const t = weights.tensors.get('MobilenetV1/Conv2d_0_pointwise/weights');
    if (!spec?.quantization || !t) throw new Error('missing conv0');
    const q = bin[t.byteOffset + 7];
    expect(t.values[7]).toBe(Math.fround(q * (spec.quantization.scale as number) + (spec.quantization.min as number)));
  });

  it('decodes uint16, float16, int32 and plain float32 like tfjs, and concatenates shards', () => {
    const specs: TfjsWeightSpec[] = [
      { name: 'u16', shape: [5], dtype: 'float32', quantization: { dtype: 'uint16', scale: 0.0123, min: -3.5 } },
      { name: 'f16', shape: [2, 3], dtype: 'float32', quantization: { dtype: 'float16' } },
      { name: 'i32q', shape: [4], dtype: 'int32', quantization: { dtype: 'uint8', scale: 0.3, min: -1 } },
      { name: 'i32', shape: [2], dtype: 'int32' },
      { name: 'f32', shape: [3], dtype: 'float32' },
    ];
    const bytes = new Uint8Array(10 + 12 + 4 + 8 + 12);
    const view = new DataView(bytes.buffer);
    [0, 1, 777, 40000, 65535].forEach((v, i) => view.setUint16(i * 2, v, true));
    // 1.0, -2.5, a subnormal, the largest finite, -0, +inf
    [0x3c00, 0xc100, 0x0001, 0x7bff, 0x8000, 0x7c00].forEach((v, i) => view.setUint16(10 + i * 2, v, true));
    [0, 5, 250, 255].forEach((v, i) => view.setUint8(22 + i, v));
    [-7, 123456].forEach((v, i) => view.setInt32(26 + i * 4, v, true));
    [Math.PI, -1e-20, 3e38].forEach((v, i) => view.setFloat32(34 + i * 4, v, true));
    // Two shards, split inside a tensor.
    const ours = decodeTfjsWeights([{ paths: ['a', 'b'], weights: specs }], [[bytes.subarray(0, 13), bytes.subarray(13)]]);
    const ref = tf.io.decodeWeights(bytes.slice().buffer, specs as tf.io.WeightsManifestEntry[]);
    try {
      for (const s of specs) {
        const t = ours.get(s.name);
        expect([s.name, Buffer.from(ref[s.name].dataSync().buffer).toString('hex')]).toEqual([s.name, Buffer.from((t?.values as Float32Array).buffer).toString('hex')]);
      }
    } finally {
      tf.dispose(Object.values(ref));
    }
    expect(Array.from(ours.get('f16')?.values ?? [])).toEqual([1, -2.5, 2 ** -24, 65504, -0, Infinity]);
    expect(Array.from(ours.get('i32q')?.values ?? [])).toEqual([-1, 1, 74, 76]);
  });

  it('rejects shards that do not fit the manifest, unsupported dtypes and unknown files', () => {
    const specs: TfjsWeightSpec[] = [{ name: 'w', shape: [4], dtype: 'float32', quantization: { dtype: 'uint8', scale: 1, min: 0 } }];
    expect(() => decodeTfjsWeights([{ paths: ['x'], weights: specs }], [[new Uint8Array(3)]])).toThrow(/hold 3 bytes but the manifest describes 4/);
    expect(() => decodeTfjsWeights([{ paths: ['x'], weights: specs }], [[new Uint8Array(5)]])).toThrow(TfjsImportError);
    const dir = tempDir('faceapi-bad');
    try {
      const write = (name: string, value: unknown) => fs.writeFileSync(path.join(dir, name), typeof value === 'string' ? value : JSON.stringify(value));
      write('strings.json', [{ paths: ['w.bin'], weights: [{ name: 's', shape: [1], dtype: 'string' }] }]);
      expect(() => readTfjsWeights(path.join(dir, 'strings.json'))).toThrow(/dtype "string" is not supported/);
      write('twice.json', [{ paths: ['w.bin'], weights: [specs[0], specs[0]] }]);
      expect(() => readTfjsWeights(path.join(dir, 'twice.json'))).toThrow(/listed twice/);
      write('noshard.json', [{ paths: ['missing.bin'], weights: specs }]);
      expect(() => readTfjsWeights(path.join(dir, 'noshard.json'))).toThrow(/cannot read weights shard .*missing\.bin': no such file/);
      write('garbage.json', '{not json');
      expect(() => readTfjsWeights(path.join(dir, 'garbage.json'))).toThrow(/is not JSON/);
      expect(() => readTfjsWeights(path.join(dir, 'nope.json'))).toThrow(/cannot read tfjs weights manifest/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("reads the same weights split into face-api.js' two shards, and from a model.json", () => {
    const dir = tempDir('faceapi-shards');
    try {
      const bin = fs.readFileSync(FACEAPI_BIN);
      fs.writeFileSync(path.join(dir, 'shard1'), bin.subarray(0, 4194304));
      fs.writeFileSync(path.join(dir, 'shard2'), bin.subarray(4194304));
      const manifest = JSON.parse(fs.readFileSync(FACEAPI_MANIFEST, 'utf8')) as { paths: string[]; weights: unknown[] }[];
      fs.writeFileSync(path.join(dir, 'manifest.json'), JSON.stringify([{ paths: ['shard1', 'shard2'], weights: manifest[0].weights }]));
      fs.writeFileSync(path.join(dir, 'model.json'), JSON.stringify({ format: 'graph-model', weightsManifest: [{ paths: ['shard1', 'shard2'], weights: manifest[0].weights }] }));
      for (const file of ['manifest.json', 'model.json']) {
        const split = readTfjsWeights(path.join(dir, file));
        expect([...split.tensors.keys()]).toEqual([...weights.tensors.keys()]);
        for (const [name, t] of weights.tensors) expect(Buffer.from(split.tensors.get(name)?.values.buffer ?? new ArrayBuffer(0)).equals(Buffer.from(t.values.buffer))).toBe(true);
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('face-api anchors', () => {
  let raw: Float32Array;
  let priors: Float32Array;
  beforeAll(() => {
    const weights = readTfjsWeights(FACEAPI_MANIFEST);
    raw = weights.tensors.get('Output/extra_dim')?.values as Float32Array;
    priors = faceApiPriorTable(weights.tensors);
  });

  /** TF OD API create_ssd_anchors (min 0.2, max 0.95, reduced lowest layer), normalised (xmin, ymin, xmax, ymax). */
  function generate(interpolatedLast: boolean): Float64Array {
    const grids = [32, 16, 8, 4, 2, 1];
    const scales = [0.2, 0.35, 0.5, 0.65, 0.8, 0.95];
    const out: number[] = [];
    grids.forEach((fm, layer) => {
      let boxes: [number, number][]; // [scale, ratio w/h]
      if (layer === 0) {
        boxes = [[0.1, 1], [0.2, 2], [0.2, 0.5]];
      } else {
        const s = scales[layer];
        const next = layer + 1 < scales.length ? scales[layer + 1] : 1;
        const rest: [number, number][] = [[s, 2], [s, 0.5], [s, 3], [s, 1 / 3]];
        const interpolated: [number, number] = [Math.sqrt(s * next), 1];
        boxes = interpolatedLast ? [[s, 1], ...rest, interpolated] : [[s, 1], interpolated, ...rest];
      }
      for (let i = 0; i < fm; i++) {
        for (let j = 0; j < fm; j++) {
          const cy = (i + 0.5) / fm;
          const cx = (j + 0.5) / fm;
          for (const [s, r] of boxes) {
            const w = s * Math.sqrt(r);
            const h = s / Math.sqrt(r);
            out.push(cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2);
          }
        }
      }
    });
    return Float64Array.from(out);
  }

  it('are 5118 boxes, reordered from (ymin, xmin, ymax, xmax) to (xmin, ymin, xmax, ymax), unclipped', () => {
    expect(priors).toHaveLength(FACEAPI_SSD_PRIOR_COUNT * 4);
    for (let p = 0; p < FACEAPI_SSD_PRIOR_COUNT; p++) {
      expect([priors[p * 4], priors[p * 4 + 1], priors[p * 4 + 2], priors[p * 4 + 3]]).toEqual([raw[p * 4 + 1], raw[p * 4], raw[p * 4 + 3], raw[p * 4 + 2]]);
    }
    expect(Math.min(...priors)).toBeLessThan(-0.44);
    expect(Math.max(...priors)).toBeGreaterThan(1.44);
  });

  it('follow the older TF anchor order (interpolated anchor right after ratio 1), not the current one', () => {
    const older = generate(false);
    const current = generate(true);
    expect(older).toHaveLength(priors.length);
    const err = (g: Float64Array) => g.reduce((m, v, i) => Math.max(m, Math.abs(v - priors[i])), 0);
    expect(err(older)).toBeLessThan(5e-5);
    expect(err(current)).toBeGreaterThan(0.5);
  });

  it('spot values: first cell of layer 0, first anchors of layer 1, the last anchor', () => {
    const box = (p: number) => Array.from(priors.subarray(p * 4, p * 4 + 4));
    const close = (got: number[], want: number[]) => got.forEach((v, i) => expect(v).toBeCloseTo(want[i], 4));
    close(box(0), [-0.034375, -0.034375, 0.065625, 0.065625]); // centre 1/64, scale 0.1, ratio 1
    close(box(1), [0.015625 - 0.1 * Math.SQRT2, 0.015625 - 0.1 / Math.SQRT2, 0.015625 + 0.1 * Math.SQRT2, 0.015625 + 0.1 / Math.SQRT2]); // scale 0.2, ratio 2
    const s1 = Math.sqrt(0.35 * 0.5) / 2;
    close(box(3072), [1 / 32 - 0.175, 1 / 32 - 0.175, 1 / 32 + 0.175, 1 / 32 + 0.175]); // 16x16 layer, scale 0.35
    close(box(3073), [1 / 32 - s1, 1 / 32 - s1, 1 / 32 + s1, 1 / 32 + s1]); // interpolated sqrt(0.35 * 0.5)
    const w = 0.95 / Math.sqrt(3) / 2;
    const h = (0.95 * Math.sqrt(3)) / 2;
    close(box(5117), [0.5 - w, 0.5 - h, 0.5 + w, 0.5 + h]); // 1x1 layer, scale 0.95, ratio 1/3
  });
});

describe('face-api ONNX graph', () => {
  let weights: TfjsWeights;
  let model: ModelProto;
  beforeAll(() => {
    weights = readTfjsWeights(FACEAPI_MANIFEST);
    model = buildFaceApiSsd(weights.tensors);
  });

  it('computes TF SAME pads (odd pixel at the end), also where they are symmetric', () => {
    expect(tfSamePadding(512, 3, 2)).toEqual({ out: 256, before: 0, after: 1 });
    expect(tfSamePadding(256, 3, 1)).toEqual({ out: 256, before: 1, after: 1 });
    expect(tfSamePadding(32, 1, 1)).toEqual({ out: 32, before: 0, after: 0 });
    // The 300x300 chain of the reference page.
    const chain: [number, number, number][] = [
      [300, 0, 1], [150, 0, 1], [75, 1, 1], [38, 0, 1], [19, 1, 1], [10, 0, 1], [5, 1, 1], [3, 1, 1], [2, 0, 1],
    ];
    for (const [size, before, after] of chain) expect([size, tfSamePadding(size, 3, 2)]).toEqual([size, { out: Math.ceil(size / 2), before, after }]);
  });

  it('has 47 Conv, 13 BatchNormalization (epsilon float32 1e-3), 35 Clip(0, 6) and the Caffe-SSD heads', () => {
    const info = inspectModel(encodeModel(model));
    expect(info.opCounts).toEqual({ BatchNormalization: 13, Clip: 35, Concat: 2, Conv: 47, Reshape: 12, Softmax: 1, Transpose: 12 });
    expect(info.inputs).toEqual([{ name: 'data', elemType: 1, shape: ['N', 3, 512, 512] }]);
    expect(info.outputs.map((o) => [o.name, o.shape])).toEqual([
      ['mbox_loc', ['N', 5118, 4]],
      ['mbox_conf', ['N', 5118, 2]],
    ]);
    const nodes = model.graph?.node ?? [];
    for (const bn of nodes.filter((n) => n.op_type === 'BatchNormalization')) expect(attr(bn, 'epsilon')).toBe(Math.fround(FACEAPI_BN_EPSILON));
    expect(Array.from(initializer(model, 'relu6/min'))).toEqual([0]);
    expect(Array.from(initializer(model, 'relu6/max'))).toEqual([6]);
  });

  it('gives every conv explicit TF SAME pads: [0,0,1,1] for stride 2, [1,1,1,1] for 3x3 stride 1, none for 1x1', () => {
    const convs = (model.graph?.node ?? []).filter((n) => n.op_type === 'Conv');
    const byKind = new Map<string, string[]>();
    for (const c of convs) {
      const key = `${JSON.stringify(attr(c, 'kernel_shape'))} s${JSON.stringify(attr(c, 'strides'))} pads ${JSON.stringify(attr(c, 'pads'))}`;
      byKind.set(key, [...(byKind.get(key) ?? []), c.name ?? '']);
    }
    expect([...byKind.keys()].sort()).toEqual(['[1,1] s[1,1] pads [0,0,0,0]', '[3,3] s[1,1] pads [1,1,1,1]', '[3,3] s[2,2] pads [0,0,1,1]']);
    // conv0, 4 stride-2 depthwise, 4 stride-2 extras.
    expect(byKind.get('[3,3] s[2,2] pads [0,0,1,1]')).toHaveLength(9);
    expect(convs.every((c) => attr(c, 'auto_pad') === undefined)).toBe(true);
  });

  it('conv0 takes BGR and absorbs 1 / (127.5 * 0.007843); depthwise weights become [C, 1, 3, 3]', () => {
    const tfW = weights.tensors.get('MobilenetV1/Conv2d_0_pointwise/weights')?.values as Float32Array; // [3,3,3,32] HWIO
    const w = initializer(model, 'MobilenetV1/Conv2d_0_pointwise/weights'); // [32,3,3,3] OIHW, BGR
    expect(FACEAPI_INPUT_SCALE_CORRECTION).toBeCloseTo(1.0000175, 7);
    for (let o = 0; o < 32; o += 7) {
      for (let c = 0; c < 3; c++) {
        for (let h = 0; h < 3; h++) {
          for (let x = 0; x < 3; x++) {
            const rgb = 2 - c;
            expect(w[((o * 3 + c) * 3 + h) * 3 + x]).toBe(Math.fround(tfW[((h * 3 + x) * 3 + rgb) * 32 + o] * FACEAPI_INPUT_SCALE_CORRECTION));
          }
        }
      }
    }
    const dwTf = weights.tensors.get('MobilenetV1/Conv2d_5_depthwise/depthwise_weights')?.values as Float32Array; // [3,3,256,1]
    const dw = initializer(model, 'MobilenetV1/Conv2d_5_depthwise/depthwise_weights'); // [256,1,3,3]
    expect(dw).toHaveLength(256 * 9);
    for (let c = 0; c < 256; c += 13) for (let k = 0; k < 9; k++) expect(dw[c * 9 + k]).toBe(dwTf[k * 256 + c]);
  });

  it('permutes box channels (ty, tx, th, tw) -> (tx, ty, tw, th) and builds 2-class heads from logit 1', () => {
    for (const h of FACEAPI_SSD_HEADS) {
      const A = h.anchors;
      const C = h.inChannels;
      const boxW = weights.tensors.get(`${h.predictor}/BoxEncodingPredictor/weights`)?.values as Float32Array;
      const boxB = weights.tensors.get(`${h.predictor}/BoxEncodingPredictor/biases`)?.values as Float32Array;
      const locW = initializer(model, `${h.predictor}/mbox_loc/weights`);
      const locB = initializer(model, `${h.predictor}/mbox_loc/biases`);
      const clsW = weights.tensors.get(`${h.predictor}/ClassPredictor/weights`)?.values as Float32Array;
      const clsB = weights.tensors.get(`${h.predictor}/ClassPredictor/biases`)?.values as Float32Array;
      const confW = initializer(model, `${h.predictor}/mbox_conf/weights`);
      const confB = initializer(model, `${h.predictor}/mbox_conf/biases`);
      expect(locW).toHaveLength(4 * A * C);
      expect(confW).toHaveLength(2 * A * C);
      for (let a = 0; a < A; a++) {
        for (const [ours, theirs] of [[0, 1], [1, 0], [2, 3], [3, 2]]) {
          expect(locB[a * 4 + ours]).toBe(boxB[a * 4 + theirs]);
          for (let i = 0; i < C; i += 37) expect(locW[(a * 4 + ours) * C + i]).toBe(boxW[i * 4 * A + a * 4 + theirs]);
        }
        expect(confB[a * 2]).toBe(0);
        expect(confB[a * 2 + 1]).toBe(clsB[a * 3 + 1]);
        for (let i = 0; i < C; i++) {
          expect(confW[a * 2 * C + i]).toBe(0);
          expect(confW[(a * 2 + 1) * C + i]).toBe(clsW[i * 3 * A + a * 3 + 1]);
        }
      }
    }
  });

  it('carries the SSD spec: explicit prior table, letterbox 512 BGR, face-api thresholds, background + face', () => {
    const entry = model.metadata_props.find((m) => m.key === SSD_SPEC_METADATA_KEY);
    const spec = parseSsdSpec(entry?.value);
    expect(spec.name).toBe('faceapi-ssd-mobilenetv1-512');
    expect(spec.input).toEqual({ name: 'data', width: 512, height: 512, channelOrder: 'BGR', mean: [127.5, 127.5, 127.5], scale: 0.007843, resize: 'letterbox' });
    expect(spec.outputs).toEqual({ loc: 'mbox_loc', conf: 'mbox_conf' });
    expect(spec.labels).toEqual(['background', 'face']);
    expect(spec.backgroundLabelId).toBe(0);
    expect(spec.codeType).toBe('CENTER_SIZE');
    expect(spec.varianceEncodedInTarget).toBe(false);
    expect(spec.clipBoxes).toBe(true);
    expect(spec.nms).toEqual({ scoreThreshold: 0.5, iouThreshold: 0.5, topK: -1, keepTopK: 100, eta: 1 });
    if (spec.priors.kind !== 'table') throw new Error('expected a prior table');
    expect(spec.priors.variances).toEqual([0.1, 0.1, 0.2, 0.2]);
    expect(bits(spec.priors.boxes)).toBe(bits(faceApiPriorTable(weights.tensors)));
    const post = new SsdPostprocessor(spec);
    expect([post.numPriors, post.numClasses]).toEqual([5118, 2]);
  });

  it('refuses weights that are not the face-api SSD', () => {
    const missing = new Map(weights.tensors);
    missing.delete('MobilenetV1/Conv2d_7_depthwise/BatchNorm/moving_variance');
    expect(() => buildFaceApiSsd(missing)).toThrow(/'MobilenetV1\/Conv2d_7_depthwise\/BatchNorm\/moving_variance' is missing/);
    const reshaped = new Map(weights.tensors);
    const anchors = weights.tensors.get('Output/extra_dim');
    if (!anchors) throw new Error('no anchors');
    reshaped.set('Output/extra_dim', { ...anchors, shape: [1, 1917, 4] });
    expect(() => buildFaceApiSsd(reshaped)).toThrow(/shape \[1,1917,4\], expected \[1,5118,4\]/);
    const wrongSize = new Map(weights.tensors);
    const size = weights.tensors.get('Preprocessor/ResizeImage/size');
    if (!size) throw new Error('no size');
    wrongSize.set('Preprocessor/ResizeImage/size', { ...size, values: Int32Array.from([300, 300]) });
    expect(() => buildFaceApiSsd(wrongSize)).toThrow(/not the 512x512 face-api SSD/);
  });
});

describe('importFaceApi', () => {
  let imported: ImportedModel;
  let bytes: Uint8Array;
  let dir: string;
  beforeAll(() => {
    imported = importFaceApi(FACEAPI_MANIFEST);
    bytes = encodeModel(imported.model);
    dir = tempDir('faceapi-import');
  });
  afterAll(() => {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  /** The pinned files copied into `name` under `dir`; `edit` may change the manifest text. */
  function copyWeights(name: string, edit: (manifest: string) => string = (m) => m): string {
    const target = path.join(dir, name);
    fs.mkdirSync(target);
    fs.copyFileSync(FACEAPI_BIN, path.join(target, path.basename(FACEAPI_BIN)));
    const manifest = path.join(target, path.basename(FACEAPI_MANIFEST));
    fs.writeFileSync(manifest, edit(fs.readFileSync(FACEAPI_MANIFEST, 'utf8')));
    return manifest;
  }

  it('finds the installed @vladmandic/face-api manifest', () => {
    expect(defaultFaceApiManifestPath()).toBe(FACEAPI_MANIFEST);
  });

  it('returns the unfolded graph (13 BatchNormalization) with what it read: files, pinned sha256, tensor counts, face tolerances', () => {
    expect(inspectModel(bytes).batchNormCount).toBe(13);
    expect(imported.provenance.source).toBe(FACEAPI_MANIFEST);
    expect(imported.provenance.files).toEqual([FACEAPI_MANIFEST, FACEAPI_BIN]);
    expect(imported.provenance.lines).toEqual([
      'tfjs: 151 tensors (150 uint8, 1 float32), 5616957 bytes in 1 shard(s); sha256 = @vladmandic/face-api@1.7.15',
      "graph: faceapi-ssd-mobilenetv1-512, BatchNormalization epsilon float32(1e-3) as face-api's",
    ]);
    expect(imported.provenance.details).toMatchObject({ format: 'tfjs', manifestPath: FACEAPI_MANIFEST, pinned: true, tensorCount: 151, storedAs: { uint8: 150, float32: 1 } });
    expect(imported.provenance.tolerance).toEqual({ rtol: FACE_VERIFY_RTOL, atol: FACE_VERIFY_ATOL });
    const meta = inspectModel(bytes).metadata;
    expect(meta['faceapi.source']).toMatch(/^@vladmandic\/face-api@1\.7\.15 model\/ \(ssd_mobilenetv1_model-weights_manifest\.json sha256:888f744d.*, ssd_mobilenetv1_model\.bin sha256:2835640602/);
    expect(meta['faceapi.license']).toMatch(/MIT.*Apache-2\.0.*WIDER FACE/);
  });

  it('is a function of the file bytes alone: the same model from the same files in another directory', () => {
    const again = importFaceApi(copyWeights('copy'), { requirePinned: true });
    expect(Buffer.from(encodeModel(again.model)).equals(Buffer.from(bytes))).toBe(true);
  });

  it('folds into the 109 nodes of the built-in face model, no BatchNormalization left', () => {
    const info = inspectModel(encodeModel(foldBatchNorm(imported.model).model));
    expect([info.nodeCount, info.batchNormCount]).toEqual([109, 0]);
  });

  it('refuses files that are not the pinned face-api 1.7.15 ones when asked to, and otherwise imports them saying so', () => {
    const manifest = copyWeights('unpinned', (m) => `${m}\n`);
    expect(() => importFaceApi(manifest, { requirePinned: true })).toThrow(TfjsImportError);
    expect(() => importFaceApi(manifest, { requirePinned: true })).toThrow(/is not @vladmandic\/face-api@1\.7\.15's SSD-MobileNetV1 \(sha256: /);
    const unpinned = importFaceApi(manifest);
    expect(unpinned.provenance.lines[0]).toMatch(/; sha256 differs from @vladmandic\/face-api@1\.7\.15 \(imported anyway\)$/);
    expect(inspectModel(encodeModel(unpinned.model)).metadata['faceapi.source']).toMatch(/^tfjs weights \(/);
  });

  itOnnx('the unfolded and the folded model pass onnx.checker.check_model(full_check=True)', () => {
    const checker = new OnnxChecker('faceapi');
    try {
      checker.add('unfolded', bytes);
      checker.add('folded', foldBatchNorm(imported.model).model);
      expect(checker.run()).toBe(2);
    } finally {
      checker.cleanup();
    }
  }, 60000);
});
