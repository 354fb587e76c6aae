// The ModelInfo a detector answers with, from the model loadModel read (tiny generated models).
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { MOBILENET_SSD_VOC_300 } from '@edge-ssd/ssd-core';
import { loadModel } from '@edge-ssd/ssd-pipeline';
import { modelInfo } from '../src/model/model-info';
import { TINY_SPEC, writeTinySsdModel } from '@edge-ssd/ssd-pipeline/testing';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'model-info-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('model info', () => {
  it('describes a model carrying its spec: the spec name, input size, labels and prior count, the file sha256, bn_fused', async () => {
    const file = writeTinySsdModel(dir, 'tiny.onnx');
    expect(modelInfo(await loadModel(file))).toEqual({
      name: 'tiny-ssd',
      sha256: createHash('sha256').update(readFileSync(file)).digest('hex'),
      inputWidth: 8,
      inputHeight: 8,
      labels: ['background', 'cat', 'dog'],
      bnFused: true,
      numPriors: 1,
      precision: 'fp32',
    });
  });

  it('describes a model without a spec as MobileNet-SSD VOC 300: 300x300 input, the 21 VOC labels, 1917 priors', async () => {
    const file = writeTinySsdModel(dir, 'plain.onnx', { names: MOBILENET_SSD_VOC_300, carry: null });
    const info = modelInfo(await loadModel(file));
    expect(info).toMatchObject({ name: 'mobilenet-ssd-voc-300', inputWidth: 300, inputHeight: 300, numPriors: 1917 });
    expect(info.labels).toEqual([...MOBILENET_SSD_VOC_300.labels]);
    expect(info.labels[15]).toBe('person');
  });

  it('reports bn_fused false for a graph that still has a BatchNormalization node', async () => {
    const info = modelInfo(await loadModel(writeTinySsdModel(dir, 'unfused.onnx', { batchNorm: true })));
    expect(info.bnFused).toBe(false);
    expect(info.name).toBe(TINY_SPEC.name);
  });

  it('takes the input size and the prior count from the spec: a 12 wide, 8 high input with three priors', async () => {
    const spec = {
      ...TINY_SPEC,
      input: { ...TINY_SPEC.input, width: 12, height: 8 },
      priors: { kind: 'table' as const, boxes: [0, 0, 1, 1, 0, 0, 0.5, 0.5, 0.5, 0.5, 1, 1], variances: [0.1, 0.1, 0.2, 0.2] },
    };
    const info = modelInfo(await loadModel(writeTinySsdModel(dir, 'three.onnx', { carry: spec })));
    expect([info.inputWidth, info.inputHeight, info.numPriors]).toEqual([12, 8, 3]);
  });
});
