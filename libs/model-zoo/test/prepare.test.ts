// prepareDefaultModel (what the detector calls at start-up), inspectModel, and the ONNX reference
// checker on the written and the folded model.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { MOBILENET_SSD_VOC_300, SSD_SPEC_METADATA_KEY } from '@edge-ssd/ssd-core';
import { inspectModel } from '@edge-ssd/onnx-io';
import { DEFAULT_MODEL_FILE, DEFAULT_UNFUSED_MODEL_FILE, prepareDefaultModel } from '../src'; // FIXME
import { OnnxChecker, pythonOnnxAvailable, tempDir } from '@edge-ssd/onnx-io/testing';


describe('prepareDefaultModel', () => {
  let rootA: string;
  let dirA: string;
  let dirB: string;

  beforeAll(async () => {
    rootA = tempDir('prepare');
    dirA = path.join(rootA, 'models', 'nested');
    dirB = tempDir('prepare');
    const [a, b] = [await prepareDefaultModel(dirA), await prepareDefaultModel(dirB)];
    expect(a).toEqual({ modelPath: path.join(dirA, DEFAULT_MODEL_FILE), created: true });
    expect(b.created).toBe(true);
  });
  afterAll(() => {
    for (const d of [rootA, dirB]) if (d) fs.rmSync(d, { recursive: true, force: true });
  });

  it('writes the unfused model and the fused model next to it, and nothing else', () => {
    expect(fs.readdirSync(dirA).sort()).toEqual([DEFAULT_MODEL_FILE, DEFAULT_UNFUSED_MODEL_FILE].sort());
    expect(inspectModel(fs.readFileSync(path.join(dirA, DEFAULT_UNFUSED_MODEL_FILE))).batchNormCount).toBe(35);
  });

  it('produces byte-identical files every time', () => {
    for (const file of [DEFAULT_MODEL_FILE, DEFAULT_UNFUSED_MODEL_FILE]) {
      const a = fs.readFileSync(path.join(dirA, file));
      const b = fs.readFileSync(path.join(dirB, file));
      expect(a.equals(b)).toBe(true);
    }
  });

  it('leaves an existing model alone and reports created: false', async () => {
    const modelPath = path.join(dirA, DEFAULT_MODEL_FILE);
    const before = fs.statSync(modelPath).mtimeMs;
    expect(await prepareDefaultModel(dirA)).toEqual({ modelPath, created: false });
    expect(fs.statSync(modelPath).mtimeMs).toBe(before);
  });

  it('inspectModel reports the fused model: no BN left, the spec, inputs and outputs with shapes', () => {
    const info = inspectModel(fs.readFileSync(path.join(dirA, DEFAULT_MODEL_FILE)));
    expect(info.batchNormCount).toBe(0);
    expect(info.nodeCount).toBe(109);
    expect(JSON.parse(info.metadata[SSD_SPEC_METADATA_KEY])).toEqual(JSON.parse(JSON.stringify(MOBILENET_SSD_VOC_300)));
    expect(info.inputs).toEqual([{ name: 'data', elemType: 1, shape: ['N', 3, 300, 300] }]);
    expect(info.outputs.map((o) => [o.name, o.shape])).toEqual([
      ['mbox_loc', ['N', 1917, 4]],
      ['mbox_conf', ['N', 1917, 21]],
    ]);
    expect(info.producerName).toBe('edge-ssd');
  });

  it('writes models that pass onnx.checker.check_model(full_check=True)', () => {
    if (!pythonOnnxAvailable()) return;
    const checker = new OnnxChecker('prepare');
    try {
      for (const file of [DEFAULT_UNFUSED_MODEL_FILE, DEFAULT_MODEL_FILE]) checker.addFile(path.join(dirA, file));
      expect(checker.run()).toBe(2);
    } finally {
      checker.cleanup();
    }
  });
});
