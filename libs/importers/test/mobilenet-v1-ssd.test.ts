// The one MobileNet v1 SSD table and the two namings derived from it: chuanqi305's Caffe layer
// names (the seeded model, the Caffe fixtures) and face-api's TF scopes.
import { MOBILENET_SSD_VOC_300, priorBoxHeadCount } from '@edge-ssd/ssd-core';
import { MOBILENET_V1_SSD_HEADS, MOBILENET_V1_SSD_LAYERS, mobileNetV1SsdFeatureMaps, mobileNetV1SsdPriorCount } from '../src/mobilenet-v1-ssd';
import { MOBILENET_SSD_HEADS, MOBILENET_SSD_LAYERS, MOBILENET_SSD_PRIOR_COUNT } from '../src/seeded/mobilenet-ssd';
import { FACEAPI_SSD_HEADS, FACEAPI_SSD_LAYERS, FACEAPI_SSD_PRIOR_COUNT } from '../src/tfjs/faceapi-ssd';

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

describe('the MobileNet v1 SSD table', () => {
  it('chains 35 convolutions: a 3x3 stride-2 stem, 13 depthwise-separable blocks, 4 extra layers', () => {
    expect(MOBILENET_V1_SSD_LAYERS.map((l) => `${l.part}${l.block}`)).toEqual([
      'stem0',
      ...range(1, 13).flatMap((b) => [`depthwise${b}`, `pointwise${b}`]),
      ...range(1, 4).flatMap((b) => [`reduce${b}`, `expand${b}`]),
    ]);
    MOBILENET_V1_SSD_LAYERS.slice(1).forEach((l, i) => expect([i + 1, l.inChannels]).toEqual([i + 1, MOBILENET_V1_SSD_LAYERS[i].outChannels]));
    expect(MOBILENET_V1_SSD_LAYERS[0]).toEqual({ part: 'stem', block: 0, kernel: 3, stride: 2, group: 1, inChannels: 3, outChannels: 32 });
    for (const l of MOBILENET_V1_SSD_LAYERS) {
      if (l.part === 'depthwise') expect([l.kernel, l.group, l.outChannels]).toEqual([3, l.inChannels, l.inChannels]);
      else expect([l.kernel, l.group]).toEqual([l.part === 'pointwise' || l.part === 'reduce' ? 1 : 3, 1]);
    }
    const stride2 = MOBILENET_V1_SSD_LAYERS.filter((l) => l.stride === 2).map((l) => `${l.part}${l.block}`);
    expect(stride2).toEqual(['stem0', 'depthwise2', 'depthwise4', 'depthwise6', 'depthwise12', 'expand1', 'expand2', 'expand3', 'expand4']);
    expect(MOBILENET_V1_SSD_LAYERS.filter((l) => l.part === 'pointwise').map((l) => l.outChannels)).toEqual([64, 128, 128, 256, 256, 512, 512, 512, 512, 512, 512, 1024, 1024]);
    expect(MOBILENET_V1_SSD_LAYERS.filter((l) => l.part === 'expand').map((l) => l.outChannels)).toEqual([512, 256, 256, 128]);
  });

  it('feeds six heads from blocks 11 and 13 and the four extra layers, with 3 then 6 anchors per cell', () => {
    expect(MOBILENET_V1_SSD_HEADS.map((h) => `${MOBILENET_V1_SSD_LAYERS[h.layer].part}${MOBILENET_V1_SSD_LAYERS[h.layer].block}`)).toEqual([
      'pointwise11',
      'pointwise13',
      'expand1',
      'expand2',
      'expand3',
      'expand4',
    ]);
    expect(MOBILENET_V1_SSD_HEADS.map((h) => [h.inChannels, h.anchors])).toEqual([
      [512, 3],
      [1024, 6],
      [512, 6],
      [256, 6],
      [256, 6],
      [128, 6],
    ]);
  });

  it("sizes the heads for chuanqi305's 300x300 input (1917 priors, as the VOC spec's PriorBoxes) and face-api's 512x512 (5118)", () => {
    expect(mobileNetV1SsdFeatureMaps(300)).toEqual([19, 10, 5, 3, 2, 1]);
    expect(mobileNetV1SsdFeatureMaps(512)).toEqual([32, 16, 8, 4, 2, 1]);
    expect([mobileNetV1SsdPriorCount(300), mobileNetV1SsdPriorCount(512)]).toEqual([1917, 5118]);
    if (MOBILENET_SSD_VOC_300.priors.kind !== 'priorbox') throw new Error('expected PriorBox heads');
    expect(MOBILENET_SSD_VOC_300.priors.heads.map((h) => [h.featureMap[0], priorBoxHeadCount(h)])).toEqual(MOBILENET_V1_SSD_HEADS.map((h, i) => [mobileNetV1SsdFeatureMaps(300)[i], h.anchors]));
  });
});

describe('the two namings of the table', () => {
  it("chuanqi305's Caffe names: conv0, conv1/dw + conv1 .. conv13, conv14_1 + conv14_2 .. conv17_2; 3x3 kernels padded by 1", () => {
    expect(MOBILENET_SSD_LAYERS.map((l) => l.name)).toEqual(['conv0', ...range(1, 13).flatMap((b) => [`conv${b}/dw`, `conv${b}`]), ...range(14, 17).flatMap((b) => [`conv${b}_1`, `conv${b}_2`])]);
    expect(MOBILENET_SSD_LAYERS.map((l) => l.pad)).toEqual(MOBILENET_V1_SSD_LAYERS.map((l) => (l.kernel === 3 ? 1 : 0)));
    expect(MOBILENET_SSD_HEADS.map((h) => [h.source, h.featureMap, h.priors])).toEqual([
      ['conv11', 19, 3],
      ['conv13', 10, 6],
      ['conv14_2', 5, 6],
      ['conv15_2', 3, 6],
      ['conv16_2', 2, 6],
      ['conv17_2', 1, 6],
    ]);
    expect(MOBILENET_SSD_PRIOR_COUNT).toBe(1917);
  });

  it("face-api's TF scopes: MobilenetV1/Conv2d_0_pointwise (the stem), Conv2d_N_depthwise/_pointwise, Prediction/Conv2d_0..7_pointwise", () => {
    expect(FACEAPI_SSD_LAYERS.map((l) => l.scope)).toEqual([
      'MobilenetV1/Conv2d_0_pointwise',
      ...range(1, 13).flatMap((b) => [`MobilenetV1/Conv2d_${b}_depthwise`, `MobilenetV1/Conv2d_${b}_pointwise`]),
      ...range(0, 7).map((n) => `Prediction/Conv2d_${n}_pointwise`),
    ]);
    expect(FACEAPI_SSD_LAYERS.map((l) => l.kind)).toEqual(MOBILENET_V1_SSD_LAYERS.map((l) => (l.part === 'depthwise' ? 'depthwise' : 'conv')));
    expect(FACEAPI_SSD_HEADS.map((h) => [h.predictor, h.source, h.featureMap, h.anchors])).toEqual([
      ['Prediction/BoxPredictor_0', 'MobilenetV1/Conv2d_11_pointwise', 32, 3],
      ['Prediction/BoxPredictor_1', 'MobilenetV1/Conv2d_13_pointwise', 16, 6],
      ['Prediction/BoxPredictor_2', 'Prediction/Conv2d_1_pointwise', 8, 6],
      ['Prediction/BoxPredictor_3', 'Prediction/Conv2d_3_pointwise', 4, 6],
      ['Prediction/BoxPredictor_4', 'Prediction/Conv2d_5_pointwise', 2, 6],
      ['Prediction/BoxPredictor_5', 'Prediction/Conv2d_7_pointwise', 1, 6],
    ]);
    expect(FACEAPI_SSD_PRIOR_COUNT).toBe(5118);
  });

  it('give both front ends the same kernels, strides and channels, layer for layer and head for head', () => {
    const shape = (l: { kernel: number; stride: number; inChannels: number; outChannels: number }) => [l.kernel, l.stride, l.inChannels, l.outChannels];
    expect(MOBILENET_SSD_LAYERS.map(shape)).toEqual(MOBILENET_V1_SSD_LAYERS.map(shape));
    expect(FACEAPI_SSD_LAYERS.map(shape)).toEqual(MOBILENET_V1_SSD_LAYERS.map(shape));
    expect(MOBILENET_SSD_HEADS.map((h) => MOBILENET_SSD_LAYERS.findIndex((l) => l.name === h.source))).toEqual(MOBILENET_V1_SSD_HEADS.map((h) => h.layer));
    expect(FACEAPI_SSD_HEADS.map((h) => FACEAPI_SSD_LAYERS.findIndex((l) => l.scope === h.source))).toEqual(MOBILENET_V1_SSD_HEADS.map((h) => h.layer));
  });
});
