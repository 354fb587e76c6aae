// Mapping a Caffe net to ONNX, checked structurally and numerically in onnxruntime against direct
// float64 evaluations of Caffe's formulas (the OpenCV comparisons are in
// libs/convert/test/caffe-opencv.test.ts).
import * as ort from 'onnxruntime-node';
import { specFromMetadata } from '@edge-ssd/ssd-core';
import { encodeModel, inspectModel, readTensorFloat64 } from '@edge-ssd/onnx-io';
import { foldBatchNorm } from '@edge-ssd/bn-fuse';
import { CaffeImportError, type ImportCaffeOptions, SUPPORTED_CAFFE_LAYERS, importCaffe } from '../src';
import { type CaffeLayerData, type LayerText, inputHeader, layerText, tinySsdNet, writeCaffemodel } from '../src/testing';

function netText(layers: LayerText[], header = inputHeader('data', [1, 2, 4, 4])): string {
  return `${header}\n${layers.map(layerText).join('\n')}\n`;
}

function importNet(layers: LayerText[], weights: CaffeLayerData[], options: ImportCaffeOptions & { header?: string } = {}) {
  return importCaffe(netText(layers, options.header), writeCaffemodel(weights), { prototxtName: 'net.prototxt', caffemodelName: 'w.caffemodel', ...options });
}

function importError(layers: LayerText[], weights: CaffeLayerData[], options: ImportCaffeOptions & { header?: string } = {}): string {
  try {
    importNet(layers, weights, options);
  } catch (err) {
    expect(err).toBeInstanceOf(CaffeImportError);
    return (err as Error).message;
  }
  throw new Error('no error');
}

function init(model: ReturnType<typeof importCaffe>['model'], name: string): number[] {
  const t = model.graph?.initializer.find((i) => i.name === name);
  if (!t) throw new Error(`no initializer ${name}`);
  return [...readTensorFloat64(t)];
}

async function run(bytes: Uint8Array, input: Float32Array, dims: number[]): Promise<Record<string, ort.Tensor>> {
  const session = await ort.InferenceSession.create(bytes, { graphOptimizationLevel: 'disabled' });
  try {
    return await session.run({ data: new ort.Tensor('float32', input, dims) });
  } finally {
    await session.release();
  }
}

const f32 = Math.fround;
const CONV = { name: 'conv', type: 'Convolution', bottom: ['data'], top: ['conv'], params: 'convolution_param { num_output: 2 kernel_size: 1 bias_term: false }' };
const convWeights = (w = [1, 0, 0, 1]): CaffeLayerData => ({ name: 'conv', type: 'Convolution', blobs: [{ shape: [2, 2, 1, 1], data: w }] });
const bnWeights = (name: string, mean: number[], variance: number[], factor: number): CaffeLayerData => ({
  name,
  type: 'BatchNorm',
  blobs: [
    { shape: [2], data: mean },
    { shape: [2], data: variance },
    { shape: [1], data: [factor] },
  ],
});

describe('BatchNorm and Scale', () => {
  it('divides the statistics by the scale factor in float32, reads eps, and pairs BatchNorm with its Scale (in-place, SSA-renamed)', () => {
    const { model, summary } = importNet(
      [
        CONV,
        { name: 'conv/bn', type: 'BatchNorm', bottom: ['conv'], top: ['conv'], params: 'batch_norm_param { eps: 0.001 }' },
        { name: 'conv/scale', type: 'Scale', bottom: ['conv'], top: ['conv'], params: 'scale_param { bias_term: true }' },
        { name: 'conv/relu', type: 'ReLU', bottom: ['conv'], top: ['conv'] },
      ],
      [convWeights(), bnWeights('conv/bn', [300, -600], [999, 3000], 999), { name: 'conv/scale', type: 'Scale', blobs: [{ shape: [2], data: [2, -0.5] }, { shape: [2], data: [0.1, 0.2] }] }],
    );
    const nodes = model.graph?.node ?? [];
    expect(nodes.map((n) => `${n.op_type}:${n.input[0]}->${n.output[0]}`)).toEqual(['Conv:data->conv', 'BatchNormalization:conv->conv/bn', 'Relu:conv/bn->conv/relu']);
    expect(model.graph?.output.map((o) => o.name)).toEqual(['conv/relu']);
    const m = f32(1 / 999);
    expect(init(model, 'conv/bn/mean')).toEqual([f32(300 * m), f32(-600 * m)]);
    expect(init(model, 'conv/bn/var')).toEqual([f32(999 * m), f32(3000 * m)]);
    expect(init(model, 'conv/bn/gamma')).toEqual([2, -0.5]);
    expect(init(model, 'conv/bn/beta')).toEqual([f32(0.1), f32(0.2)]);
    expect(nodes[1].attribute.find((a) => a.name === 'epsilon')?.f).toBe(f32(0.001));
    expect(summary).toMatchObject({ batchNormScalePairs: 1, batchNormAlone: 0, scaleAlone: 0 });
    const folded = foldBatchNorm(model);
    expect(folded.report.batchNormFolded).toBe(1);
  });

  it('factor 0 gives zero statistics; eps defaults to 1e-5; a BatchNorm alone gets gamma 1, beta 0; a Scale without bias gets beta 0', () => {
    const { model, summary } = importNet(
      [
        CONV,
        { name: 'bn1', type: 'BatchNorm', bottom: ['conv'], top: ['bn1'] },
        { name: 'bn2', type: 'BatchNorm', bottom: ['bn1'], top: ['bn2'] },
        { name: 's2', type: 'Scale', bottom: ['bn2'], top: ['s2'] },
      ],
      [convWeights(), bnWeights('bn1', [5, 6], [7, 8], 0), bnWeights('bn2', [1, 2], [3, 4], 2), { name: 's2', type: 'Scale', blobs: [{ shape: [2], data: [3, 4] }] }],
    );
    expect(init(model, 'bn1/mean')).toEqual([0, 0]);
    expect(init(model, 'bn1/var')).toEqual([0, 0]);
    expect(init(model, 'bn1/gamma')).toEqual([1, 1]);
    expect(init(model, 'bn1/beta')).toEqual([0, 0]);
    expect(init(model, 'bn2/mean')).toEqual([0.5, 1]);
    expect(init(model, 'bn2/gamma')).toEqual([3, 4]);
    expect(init(model, 'bn2/beta')).toEqual([0, 0]);
    const bns = (model.graph?.node ?? []).filter((n) => n.op_type === 'BatchNormalization');
    expect(bns.map((n) => n.attribute.find((a) => a.name === 'epsilon')?.f)).toEqual([f32(1e-5), f32(1e-5)]);
    expect(summary).toMatchObject({ batchNormScalePairs: 1, batchNormAlone: 1, scaleAlone: 0 });
  });

  it('computes what Caffe computes (float64 reference) before and after folding, standalone Scales included', async () => {
    const layers: LayerText[] = [
      { name: 'conv', type: 'Convolution', bottom: ['data'], top: ['conv'], params: 'convolution_param { num_output: 2 kernel_size: 1 }' },
      { name: 'bn', type: 'BatchNorm', bottom: ['conv'], top: ['conv'], params: 'batch_norm_param { eps: 0.01 }' },
      { name: 'sc', type: 'Scale', bottom: ['conv'], top: ['conv'] },
      { name: 'sc2', type: 'Scale', bottom: ['conv'], top: ['conv'], params: 'scale_param { bias_term: true }' },
      { name: 'sc3', type: 'Scale', bottom: ['conv'], top: ['out'], params: 'scale_param { axis: 2 num_axes: 2 bias_term: true }' },
    ];
    const W = [0.5, -1, 2, 0.25];
    const B = [0.1, -0.2];
    const weights: CaffeLayerData[] = [
      { name: 'conv', type: 'Convolution', blobs: [{ shape: [2, 2, 1, 1], data: W }, { shape: [2], data: B }] },
      bnWeights('bn', [100, -50], [400, 900], 1000),
      { name: 'sc', type: 'Scale', blobs: [{ shape: [2], data: [1.5, -2] }] },
      { name: 'sc2', type: 'Scale', blobs: [{ shape: [2], data: [0.5, 3] }, { shape: [2], data: [1, -1] }] },
      { name: 'sc3', type: 'Scale', blobs: [{ shape: [4, 4], data: Array.from({ length: 16 }, (_, i) => (i - 8) / 4) }, { shape: [4, 4], data: Array.from({ length: 16 }, (_, i) => i / 16) }] },
    ];
    const { model, summary } = importNet(layers, weights);
    expect(summary).toMatchObject({ batchNormScalePairs: 1, scaleAlone: 2 });
    const input = Float32Array.from({ length: 2 * 2 * 16 }, (_, i) => Math.sin(i) * 3);
    const expected = new Float64Array(input.length);
    for (let n = 0; n < 2; n++) {
      for (let c = 0; c < 2; c++) {
        for (let p = 0; p < 16; p++) {
          const x0 = input[(n * 2 + 0) * 16 + p];
          const x1 = input[(n * 2 + 1) * 16 + p];
          let y = W[c * 2] * x0 + W[c * 2 + 1] * x1 + B[c];
          y = (y - [0.1, -0.05][c]) / Math.sqrt([0.4, 0.9][c] + 0.01);
          y = y * [1.5, -2][c];
          y = y * [0.5, 3][c] + [1, -1][c];
          y = y * ((p - 8) / 4) + p / 16;
          expected[(n * 2 + c) * 16 + p] = y;
        }
      }
    }
    const unfused = encodeModel(model);
    const { model: folded, report } = foldBatchNorm(model);
    // The BN+Scale pair and the per-channel Scale fold into the convolution; the 2-axis Scale is Mul + Add.
    expect(report.batchNormFolded).toBe(2);
    expect(inspectModel(encodeModel(folded)).opCounts).toEqual({ Add: 1, Conv: 1, Mul: 1 });
    for (const bytes of [unfused, encodeModel(folded)]) {
      const out = (await run(bytes, input, [2, 2, 4, 4])).out;
      expect(out.dims).toEqual([2, 2, 4, 4]);
      const got = out.data as Float32Array;
      for (let i = 0; i < got.length; i++) expect(Math.abs(got[i] - expected[i])).toBeLessThan(1e-4 * Math.max(1, Math.abs(expected[i])));
    }
  });

  it('refuses use_global_stats: false, a two-bottom Scale, and blobs of the wrong count or shape', () => {
    expect(importError([CONV, { name: 'bn', type: 'BatchNorm', bottom: ['conv'], top: ['conv'], params: 'batch_norm_param { use_global_stats: false }' }], [convWeights(), bnWeights('bn', [0, 0], [1, 1], 1)])).toMatch(
      /^net\.prototxt:16: layer 'bn' \(BatchNorm\): use_global_stats: false .* is not supported/,
    );
    expect(importError([CONV, { name: 's', type: 'Scale', bottom: ['conv', 'conv'], top: ['s'] }], [convWeights()])).toMatch(/layer 's' \(Scale\): a Scale with two bottoms/);
    expect(importError([CONV, { name: 'bn', type: 'BatchNorm', bottom: ['conv'], top: ['conv'] }], [convWeights(), { ...bnWeights('bn', [0, 0], [1, 1], 1), blobs: bnWeights('bn', [0, 0], [1, 1], 1).blobs.slice(0, 2) }])).toMatch(
      /the caffemodel has 2 weight blobs for it, the prototxt implies 3 \(mean, variance, scale factor\)/,
    );
    expect(importError([CONV], [{ name: 'conv', type: 'Convolution', blobs: [{ shape: [2, 2, 3, 3], data: new Array(36).fill(0) }] }])).toMatch(
      /^net\.prototxt:9: layer 'conv' \(Convolution\): weight blob 0 \(weight\) in the caffemodel has shape \[2, 2, 3, 3\], but the prototxt implies \[2, 2, 1, 1\]$/,
    );
    // Legacy 4-D shapes compare padded with leading 1s, as Caffe's Blob::ShapeEquals does.
    const legacy = importCaffe(netText([CONV]), writeCaffemodel([convWeights()], { legacyShapes: true }));
    expect(legacy.summary.outputs).toEqual([{ name: 'conv', shape: ['N', 2, 4, 4] }]);
    const wrongLegacy = writeCaffemodel([{ name: 'conv', type: 'Convolution', blobs: [{ shape: [1, 4, 1, 1], data: [1, 0, 0, 1] }] }], { legacyShapes: true });
    expect(() => importCaffe(netText([CONV]), wrongLegacy)).toThrow(/has shape \[1, 4, 1, 1\] \(legacy num\/channels\/height\/width\), but the prototxt implies \[2, 2, 1, 1\]/);
  });
});

describe('net structure', () => {
  it('reads the Input layer and input_dim forms, filters layers by phase and lists unused weights', () => {
    const header = 'name: "n"\nlayer { name: "in" type: "Input" top: "data" input_param { shape { dim: 1 dim: 2 dim: 4 dim: 4 } } }';
    const { model, summary } = importNet(
      [
        CONV,
        { name: 'train_only', type: 'Data', top: ['label'], extra: 'include { phase: TRAIN }' },
        { name: 'not_test', type: 'Frobnicate', bottom: ['conv'], top: ['x'], extra: 'exclude { phase: TEST }' },
        { name: 'relu', type: 'ReLU', bottom: ['conv'], top: ['relu'] },
        { name: 'drop', type: 'Dropout', bottom: ['relu'], top: ['relu'] },
        { name: 'side', type: 'Sigmoid', bottom: ['conv'], top: ['side'] },
      ],
      [convWeights(), { name: 'old_layer', type: 'Convolution', blobs: [{ shape: [1], data: [1] }] }],
      { header },
    );
    expect(summary.inputs).toEqual([{ name: 'data', shape: ['N', 2, 4, 4] }]);
    expect(summary.filteredOut).toEqual(['train_only', 'not_test']);
    expect(summary.unusedWeights).toEqual(['old_layer']);
    // Caffe's outputs are the blobs nobody consumes: 'relu' (after the dropped Dropout) and 'side'.
    expect(summary.outputs.map((o) => o.name)).toEqual(['relu', 'side']);
    expect(model.graph?.input.map((i) => i.name)).toEqual(['data']);
    const dims = importCaffe(netText([CONV], 'input: "data"\ninput_dim: 5\ninput_dim: 2\ninput_dim: 4\ninput_dim: 4'), writeCaffemodel([convWeights()]));
    expect(dims.summary.inputs).toEqual([{ name: 'data', shape: ['N', 2, 4, 4] }]);
  });

  it('keeps the batch dynamic through Reshape (literal batch dim), Flatten and InnerProduct', async () => {
    const { model } = importNet(
      [
        CONV,
        { name: 'r', type: 'Reshape', bottom: ['conv'], top: ['r'], params: 'reshape_param { shape { dim: 1 dim: 2 dim: -1 } }' },
        { name: 'r2', type: 'Reshape', bottom: ['r'], top: ['r2'], params: 'reshape_param { shape { dim: 4 dim: 4 } axis: 2 }' },
        { name: 'f', type: 'Flatten', bottom: ['r2'], top: ['f'], params: 'flatten_param { axis: 1 end_axis: 2 }' },
        { name: 'ip', type: 'InnerProduct', bottom: ['f'], top: ['ip'], params: 'inner_product_param { num_output: 3 }' },
      ],
      [convWeights(), { name: 'ip', type: 'InnerProduct', blobs: [{ shape: [3, 32], data: Array.from({ length: 96 }, (_, i) => (i % 7) - 3) }, { shape: [3], data: [1, 2, 3] }] }],
    );
    const input = Float32Array.from({ length: 3 * 32 }, (_, i) => i / 10);
    const out = (await run(encodeModel(model), input, [3, 2, 4, 4])).ip;
    expect(out.dims).toEqual([3, 3]);
    const got = out.data as Float32Array;
    for (let n = 0; n < 3; n++) {
      for (let o = 0; o < 3; o++) {
        let s = [1, 2, 3][o];
        for (let k = 0; k < 32; k++) s += (((o * 32 + k) % 7) - 3) * input[n * 32 + k];
        expect(got[n * 3 + o]).toBeCloseTo(s, 3);
      }
    }
  });

  it("computes Caffe's InnerProduct with transpose and LRN with k (both ignored by OpenCV 4.6)", async () => {
    const { model } = importNet(
      [
        { name: 'lrn', type: 'LRN', bottom: ['data'], top: ['lrn'], params: 'lrn_param { local_size: 1 alpha: 0.5 beta: 0.6 k: 2 }' },
        { name: 'ip', type: 'InnerProduct', bottom: ['lrn'], top: ['ip'], params: 'inner_product_param { num_output: 3 transpose: true }' },
      ],
      [{ name: 'ip', type: 'InnerProduct', blobs: [{ shape: [32, 3], data: Array.from({ length: 96 }, (_, i) => ((i * 5) % 11) / 4 - 1) }, { shape: [3], data: [0.5, -0.5, 1] }] }],
    );
    const input = Float32Array.from({ length: 2 * 32 }, (_, i) => Math.cos(i) * 2);
    const got = (await run(encodeModel(model), input, [2, 2, 4, 4])).ip.data as Float32Array;
    for (let n = 0; n < 2; n++) {
      for (let o = 0; o < 3; o++) {
        let s = [0.5, -0.5, 1][o];
        for (let k = 0; k < 32; k++) {
          const x = input[n * 32 + k];
          const y = x * Math.pow(2 + 0.5 * x * x, -0.6);
          s += y * (((k * 3 + o) * 5) % 11 / 4 - 1);
        }
        expect(got[n * 3 + o]).toBeCloseTo(s, 4);
      }
    }
  });

  it('names the layer and its prototxt line for unknown types, unproduced bottoms, non-in-place reuse and missing weights', () => {
    expect(importError([CONV, { name: 'frob', type: 'Frobnicate', bottom: ['conv'], top: ['f'] }], [convWeights()])).toMatch(
      /^net\.prototxt:16: layer 'frob' has type 'Frobnicate', which the Caffe importer does not support \(supported: Input, Convolution, .*DetectionOutput\)$/,
    );
    expect(importError([CONV, { name: 'r', type: 'ReLU', bottom: ['nope'], top: ['r'] }], [convWeights()])).toMatch(/^net\.prototxt:16: layer 'r' \(ReLU\): reads blob 'nope', which no earlier layer or net input produces$/);
    expect(importError([CONV, { name: 'r', type: 'ReLU', bottom: ['data'], top: ['conv'] }], [convWeights()])).toMatch(/top blob 'conv' is already produced by an earlier layer/);
    expect(importError([CONV], [])).toMatch(/holds no layers/);
    expect(importError([CONV, { name: 'c2', type: 'Convolution', bottom: ['conv'], top: ['c2'], params: 'convolution_param { num_output: 2 kernel_size: 1 }' }], [convWeights()])).toMatch(
      /^net\.prototxt:16: layer 'c2' \(Convolution\): the caffemodel 'w\.caffemodel' has no weights for this layer$/,
    );
    expect(importError([CONV, { ...CONV, bottom: ['conv'], top: ['c2'] }], [convWeights()])).toMatch(/duplicate layer name \(first defined at line 9\)/);
    expect(importError([CONV, { name: 'p', type: 'Pooling', bottom: ['conv'], top: ['p'], params: 'pooling_param { pool: AVE kernel_size: 3 stride: 2 pad: 1 }' }], [convWeights()])).toBe(
      "net.prototxt:16: layer 'p' (Pooling): average pooling with padding whose last window reaches past the padding (ceil rounding) is not supported",
    );
  });
});

describe('layer handlers', () => {
  it('map exactly these Caffe types, each once, and the refusal of any other type lists them', () => {
    expect(SUPPORTED_CAFFE_LAYERS).toEqual([
      'Input',
      'Convolution',
      'Deconvolution',
      'BatchNorm',
      'Scale',
      'ReLU',
      'Sigmoid',
      'TanH',
      'Pooling',
      'LRN',
      'Normalize',
      'InnerProduct',
      'Eltwise',
      'Concat',
      'Permute',
      'Flatten',
      'Reshape',
      'Softmax',
      'Dropout',
      'Split',
      'PriorBox',
      'DetectionOutput',
    ]);
    expect(importError([CONV, { name: 'x', type: 'Swish', bottom: ['conv'], top: ['x'] }], [convWeights()])).toBe(
      `net.prototxt:16: layer 'x' has type 'Swish', which the Caffe importer does not support (supported: ${SUPPORTED_CAFFE_LAYERS.join(', ')})`,
    );
  });

  it('count the layers that add no node: merged BatchNorms, PriorBox and its Concat, DetectionOutput, Split, Dropout, an identity Permute', () => {
    const tiny = tinySsdNet();
    // 3 BatchNorms merged into their Scales, 2 PriorBox, the Concat of priors, the DetectionOutput.
    expect(importCaffe(tiny.prototxt, writeCaffemodel(tiny.layers)).summary).toMatchObject({ noNode: 7, batchNormScalePairs: 3 });
    const { summary } = importNet(
      [
        CONV,
        { name: 'split', type: 'Split', bottom: ['conv'], top: ['a', 'b'] },
        { name: 'drop', type: 'Dropout', bottom: ['a'], top: ['a'] },
        { name: 'same', type: 'Permute', bottom: ['b'], top: ['same'], params: 'permute_param { order: 0 order: 1 }' },
        { name: 'sum', type: 'Eltwise', bottom: ['a', 'same'], top: ['sum'] },
      ],
      [convWeights()],
    );
    expect(summary).toMatchObject({ noNode: 3, layers: 5 });
  });
});

describe('SSD spec from PriorBox and DetectionOutput', () => {
  const fixture = tinySsdNet();
  const caffemodel = writeCaffemodel(fixture.layers);

  it('takes feature-map sizes from shape inference and every PriorBox/DetectionOutput parameter from the prototxt', () => {
    const { model, spec, summary } = importCaffe(fixture.prototxt, caffemodel);
    expect(spec).not.toBeNull();
    expect(specFromMetadata(inspectModel(encodeModel(model)).metadata)).toEqual(spec);
    expect(spec).toEqual({
      format: 'edge-ssd/v1',
      name: 'tiny-ssd',
      input: { name: 'data', width: 64, height: 48, channelOrder: 'BGR', mean: [127.5, 127.5, 127.5], scale: 0.007843, resize: 'warp' },
      outputs: { loc: 'mbox_loc', conf: 'mbox_conf' },
      labels: ['background', 'class_1', 'class_2', 'class_3'],
      backgroundLabelId: 0,
      priors: {
        kind: 'priorbox',
        heads: [
          { featureMap: [12, 16], minSizes: [8, 14], maxSizes: [12, 20], aspectRatios: [2], flip: false, clip: true, variance: [0.1], offset: 0.5, step: 4 },
          { featureMap: [6, 8], minSizes: [20], aspectRatios: [2, 3], flip: true, clip: false, variance: [0.1, 0.1, 0.2, 0.2], offset: 0.25 },
        ],
      },
      codeType: 'CORNER',
      varianceEncodedInTarget: false,
      clipBoxes: false,
      nms: { scoreThreshold: 0.55, iouThreshold: 0.5, topK: 40, keepTopK: 25, eta: 1 },
    });
    // 12*16*6 + 6*8*5 = 1392 priors.
    expect(summary.outputs).toEqual([
      { name: 'mbox_loc', shape: ['N', 1392, 4] },
      { name: 'mbox_conf', shape: ['N', 1392, 4] },
    ]);
    expect(model.graph?.output.map((o) => o.name)).toEqual(['mbox_loc', 'mbox_conf']);
    // The Caffe blobs called mbox_loc/mbox_conf are renamed; the outputs are the reshaped tensors.
    expect(model.graph?.node.find((n) => n.output[0] === 'mbox_loc')?.op_type).toBe('Reshape');
    expect(summary.deadLayers).toEqual([]);
    // A blob nothing reads does not become an SSD output; its nodes are dropped.
    const extra = `${fixture.prototxt}layer { name: "extra" type: "Sigmoid" bottom: "c3" top: "extra" }\n`;
    const withExtra = importCaffe(extra, caffemodel);
    expect(withExtra.summary.deadLayers).toEqual(['extra']);
    expect(withExtra.model.graph?.node.length).toBe(model.graph?.node.length);
  });

  it('uses Caffe defaults for unset DetectionOutput fields, and given labels', () => {
    const text = fixture.prototxt.replace(/nms_param \{ nms_threshold: 0\.5 top_k: 40 \} code_type: CORNER keep_top_k: 25 confidence_threshold: [0-9.]+/, '');
    expect(text).not.toContain('keep_top_k');
    const { spec } = importCaffe(text, caffemodel, { labels: ['bg', 'cat', 'dog', 'cow'] });
    expect(spec?.labels).toEqual(['bg', 'cat', 'dog', 'cow']);
    expect(spec?.codeType).toBe('CORNER');
    expect(spec?.nms).toEqual({ scoreThreshold: -3.4028234663852886e38, iouThreshold: 0.3, topK: -1, keepTopK: -1, eta: 1 });
    expect(() => importCaffe(fixture.prototxt, caffemodel, { labels: ['a', 'b'] })).toThrow(/2 labels were given for num_classes 4/);
  });

  it('records img_size and non-input image bottoms in the spec, and refuses what the spec cannot express', () => {
    const withImg = fixture.prototxt.replace('offset: 0.25', 'offset: 0.25 img_size: 100').replace('bottom: "c2"\n  bottom: "data"', 'bottom: "c2"\n  bottom: "c1"');
    const { spec } = importCaffe(withImg, caffemodel);
    const heads = spec?.priors.kind === 'priorbox' ? spec.priors.heads : [];
    expect(heads[0]).toMatchObject({ imgH: 24, imgW: 32 });
    expect(heads[1]).toMatchObject({ imgSize: 100 });
    expect(() => importCaffe(fixture.prototxt.replace('share_location: true', 'share_location: false'), caffemodel)).toThrow(/share_location: false .* is not supported/);
    expect(() => importCaffe(fixture.prototxt.replace('max_size: 12 max_size: 20', 'max_size: 12'), caffemodel)).toThrow(
      /layer 'c2_mbox_priorbox' \(PriorBox\): invalid prior_box_param: .*maxSizes must have as many values as minSizes/,
    );
    expect(() => importCaffe(fixture.prototxt.replace('concat_param { axis: 2 }', 'concat_param { axis: 1 }'), caffemodel)).toThrow(/only axis 2 keeps them prior boxes/);
    expect(() => importCaffe(fixture.prototxt.replace('min_size: 20 aspect_ratio: 2', 'min_size: 20 aspect_ratio: 2 aspect_ratio: 4'), caffemodel)).toThrow(
      /loc input 'mbox_loc' has 5568 values per image, the 1488 prior boxes need 5952/,
    );
  });
});
