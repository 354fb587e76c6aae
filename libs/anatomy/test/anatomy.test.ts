// The anatomy report against the seed document's comparison of MobileNet-SSD and VGG16-SSD, and
// against the figures shared/reference/mobilenet-ssd.md computes from the prototxt by hand (§1,
// §7). The models are the real graphs: the built-in MobileNet-SSD and face models as `model
// prepare` makes them, and VGG16-SSD imported from its Caffe deploy prototxt with seeded weights.
import * as fs from 'node:fs';
import { type ModelProto, decodeModel } from '@edge-ssd/onnx-io';
import { tempDir } from '@edge-ssd/onnx-io/testing';
import { importCaffe } from '@edge-ssd/importers';
import { VGG16_SSD_PREPROCESS, vgg16SsdCaffe, writeCaffemodel } from '@edge-ssd/importers/testing';
import { findBuiltinModel, prepareBuiltinModel } from '@edge-ssd/model-zoo';
import { AnatomyError, type ModelAnatomy, anatomyJson, comparisonMarkdown, formatAnatomy, modelAnatomy } from '../src';

async function builtin(name: string, dir: string): Promise<ModelProto> {
  const { path } = await prepareBuiltinModel(findBuiltinModel(name)!, dir);
  return decodeModel(fs.readFileSync(path));
}

/** MobileNet v1 conv0-conv13 multiply-adds at an input of size x size, from its channel plan. */
function mobileNetBaseMacs(size: number): number {
  let h = Math.floor((size + 2 - 3) / 2) + 1;
  let macs = h * h * 32 * 3 * 9;
  const plan: [number, number, number][] = [[32, 64, 1], [64, 128, 2], [128, 128, 1], [128, 256, 2], [256, 256, 1], [256, 512, 2], [512, 512, 1], [512, 512, 1], [512, 512, 1], [512, 512, 1], [512, 512, 1], [512, 1024, 2], [1024, 1024, 1]];
  for (const [cin, cout, stride] of plan) {
    h = Math.floor((h + 2 - 3) / stride) + 1;
    macs += h * h * cin * 9 + h * h * cin * cout;
  }
  return macs;
}

const column = (a: ModelAnatomy, f: (h: ModelAnatomy['heads'][number]) => unknown) => a.heads.map(f);

describe('anatomy of MobileNet-SSD, VGG16-SSD and the face model', () => {
  let dir: string;
  let mobilenet: ModelProto;
  let vgg: ModelProto;
  let face: ModelProto;
  let m: ModelAnatomy;
  let v: ModelAnatomy;

  beforeAll(async () => {
    dir = tempDir('anatomy');
    mobilenet = await builtin('mobilenet-ssd-voc-300', dir);
    face = await builtin('faceapi-ssd-mobilenetv1', dir);
    const fixture = vgg16SsdCaffe();
    vgg = importCaffe(fixture.prototxt, writeCaffemodel(fixture.layers), { preprocess: VGG16_SSD_PREPROCESS, modelName: 'vgg16-ssd-voc-300' }).model;
    m = modelAnatomy(mobilenet, { at: 512 });
    v = modelAnatomy(vgg, { at: 512 });
  }, 120_000);

  afterAll(() => {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('reproduces the seed: maps 19/10/5/3/2/1 vs 38/19/10/5/3/1, priors per location 3,6,6,6,6,6 vs 4,6,6,6,4,4, 1917 vs 8732 priors', () => {
    expect(column(m, (h) => h.featureMap)).toEqual([[19, 19], [10, 10], [5, 5], [3, 3], [2, 2], [1, 1]]);
    expect(column(v, (h) => h.featureMap)).toEqual([[38, 38], [19, 19], [10, 10], [5, 5], [3, 3], [1, 1]]);
    expect(column(m, (h) => h.priorsPerLocation)).toEqual([3, 6, 6, 6, 6, 6]);
    expect(column(v, (h) => h.priorsPerLocation)).toEqual([4, 6, 6, 6, 4, 4]);
    expect([m.priors, v.priors]).toEqual([1917, 8732]);
    expect(column(m, (h) => h.kernel)).toEqual(Array(6).fill([1, 1]));
    expect(column(v, (h) => h.kernel)).toEqual(Array(6).fill([3, 3]));
    expect(column(m, (h) => h.source)).toEqual(['conv11', 'conv13', 'conv14_2', 'conv15_2', 'conv16_2', 'conv17_2']);
    expect(column(v, (h) => h.source)).toEqual(['conv4_3_norm', 'fc7', 'conv6_2', 'conv7_2', 'conv8_2', 'conv9_2']);
  });

  it('channels: equal on the first five maps; the last is 128 in MobileNet-SSD but 256 in weiliu89 VGG16-SSD (conv9_2)', () => {
    expect(column(m, (h) => h.channels)).toEqual([512, 1024, 512, 256, 256, 128]);
    expect(column(v, (h) => h.channels)).toEqual([512, 1024, 512, 256, 256, 256]);
  });

  it('smallest object a 4x4 window covers on the largest map: 4/19 = 0.211 vs 4/38 = 0.105; k is a parameter', () => {
    expect(m.heads[0].smallestObject).toEqual([4 / 19, 4 / 19]);
    expect(v.heads[0].smallestObject).toEqual([4 / 38, 4 / 38]);
    expect(formatAnatomy(m)).toMatch(/^1 +conv11 +19x19 .* 0\.211$/m);
    expect(formatAnatomy(v)).toMatch(/^1 +conv4_3_norm +38x38 .* 0\.105$/m);
    expect(modelAnatomy(mobilenet, { k: 2 }).heads[0].smallestObject[0]).toBeCloseTo(2 / 19, 12);
  });

  it('steps: Caffe default input/map for MobileNet-SSD, explicit 8..300 for VGG16-SSD', () => {
    expect(column(m, (h) => [h.step[0], h.stepGiven])).toEqual([[300 / 19, false], [30, false], [60, false], [100, false], [150, false], [300, false]]);
    expect(column(v, (h) => [h.step[0], h.stepGiven])).toEqual([[8, true], [16, true], [32, true], [64, true], [100, true], [300, true]]);
    expect(column(v, (h) => [h.minSizes, h.maxSizes, h.aspectRatios])[0]).toEqual([[30], [60], [2]]);
  });

  it('MobileNet-SSD cost equals the reference computed from the prototxt (§7): base, extra layers, heads', () => {
    expect(m.cost).toEqual({
      base: { params: 3_196_032, macs: 1_055_206_336 },
      extra: { params: 2_221_760, macs: 61_612_032 },
      heads: { params: 365_625, macs: 31_660_800 },
      total: { params: 5_783_417, macs: 1_148_479_168 },
    });
  });

  it('VGG16-SSD cost: every caffemodel weight counted once, Normalize scale with the heads', () => {
    // 26,285,486 values in the caffemodel (the importer's summary counts them independently).
    expect(v.cost.total.params).toBe(26_285_486);
    // conv4_3_norm's 512 scales and the 12 3x3 heads: sum of (C_in * 9 + 1) * C_out.
    const heads = [[512, 4], [1024, 6], [512, 6], [256, 6], [256, 4], [256, 4]].reduce((n, [c, p]) => n + (c * 9 + 1) * p * 25, 0);
    expect(v.cost.heads.params).toBe(heads + 512);
    expect(v.cost.base.macs / m.cost.base.macs).toBeGreaterThan(25);
  });

  it('at 512 the base multiply-adds grow by the factor the shapes give (2.81, the seed says 2.913 ignoring padding), parameters by 1.0', () => {
    const at = m.at!;
    expect(column({ heads: at.heads } as ModelAnatomy, (h) => h.featureMap)).toEqual([[32, 32], [16, 16], [8, 8], [4, 4], [2, 2], [1, 1]]);
    expect(at.heads[0].smallestObject[0]).toBe(4 / 32);
    expect(at.factor.base.params).toBe(1);
    expect(at.factor.total.params).toBe(1);
    // The exact factor, from the layer table of shared/reference/mobilenet-ssd.md §1 evaluated by
    // hand at both sizes: padded 3x3 convolutions, floor((H + 2 - 3) / s) + 1.
    const macs300 = mobileNetBaseMacs(300);
    const macs512 = mobileNetBaseMacs(512);
    expect(macs300).toBe(1_055_206_336);
    expect(at.cost.base.macs).toBe(macs512);
    expect(at.factor.base.macs).toBeCloseTo(macs512 / 1_055_206_336, 12);
    expect(at.factor.base.macs).toBeGreaterThan(2.8);
    expect(at.factor.base.macs).toBeLessThan((512 / 300) ** 2);
    // The face model is MobileNet-SSD at 512: the same base network cost as MobileNet-SSD at 512.
    const f = modelAnatomy(face);
    expect(f.cost.base.macs).toBe(macs512);
    expect(f.cost.base.params).toBe(m.cost.base.params);
    expect(column(f, (h) => h.featureMap)).toEqual([[32, 32], [16, 16], [8, 8], [4, 4], [2, 2], [1, 1]]);
    expect([f.priors, f.heads[0].tableBoxes?.length]).toEqual([5118, 3]);
  });

  it('prints a table, JSON and a Markdown comparison made of the same figures', () => {
    const text = formatAnatomy(m);
    expect(text.split('\n')[0]).toBe('anatomy: mobilenet-ssd-voc-300, input 300x300, 6 heads, 1917 priors');
    expect(text).toMatch(/^base network +3,196,032 +1,055,206,336$/m);
    expect(text).toMatch(/^base network +2,966,028,288 +x2\.8109 +3,196,032 +x1\.0000$/m);
    expect(JSON.parse(anatomyJson(v))).toEqual(JSON.parse(JSON.stringify(v)));
    const md = comparisonMarkdown([
      { label: 'MobileNet-SSD 300', anatomy: m, imagesPerSecond: 40 },
      { label: 'VGG16-SSD 300', anatomy: v },
    ]);
    expect(md).toContain('| feature maps | 19, 10, 5, 3, 2, 1 | 38, 19, 10, 5, 3, 1 |');
    expect(md).toContain('| priors per location | 3, 6, 6, 6, 6, 6 | 4, 6, 6, 6, 4, 4 |');
    expect(md).toContain('| smallest object (4x4 cells on the largest map) | 4/19 = 0.211 | 4/38 = 0.105 |');
    expect(md).toContain('| images/s through the service | 40.0 | - |');
  });

  it('refuses a model without an SSD spec, and an input size the graph cannot take', () => {
    const bare = { ...mobilenet, metadata_props: [] };
    expect(() => modelAnatomy(bare)).toThrow(/ssd\.spec/);
    expect(() => modelAnatomy(face, { at: 300 })).toThrow(AnatomyError);
  });
});
