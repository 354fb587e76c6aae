// prepareBuiltinModel (what `model prepare`, npm start and the Kubernetes init container run): each
// built-in model made into a directory with exactly its pinned bytes, left alone when present, made
// again when damaged, refused when the bytes differ from the pin; inspectModel and the ONNX
// reference checker on what it writes. The command line around it: apps/model-cli/test/prepare.test.ts.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { MOBILENET_SSD_VOC_300, SSD_SPEC_METADATA_KEY } from '@edge-ssd/ssd-core';
import { inspectModel } from '@edge-ssd/onnx-io';
import { OnnxChecker, pythonOnnxAvailable, tempDir } from '@edge-ssd/onnx-io/testing';
import { type BuiltinModel, BUILTIN_MODELS, ModelMismatchError, findBuiltinModel, prepareBuiltinModel } from '../src';

const sha256 = (file: string) => createHash('sha256').update(fs.readFileSync(file)).digest('hex');

// Chosen when the tests are defined, so that jest reports the check as skipped (it throws, failing
// the file, when python3-onnx is missing and SSD_SKIP_ONNX_CHECKER is not set).
const itOnnx = pythonOnnxAvailable() ? it : it.skip;

function builtin(name: string): BuiltinModel {
  const model = findBuiltinModel(name);
  if (!model) throw new Error(`no built-in model '${name}'`);
  return model;
}

describe('the built-in models', () => {
  it('are named by their file, found by name, and each pinned by a sha256', () => {
    expect(BUILTIN_MODELS.map((m) => m.name)).toEqual(['faceapi-ssd-mobilenetv1', 'mobilenet-ssd-voc-300', 'faceapi-ssd-mobilenetv1-int8', 'mobilenet-ssd-voc-300-int8']);
    for (const m of BUILTIN_MODELS) {
      expect(m.file).toBe(`${m.name}.onnx`);
      expect(m.sha256).toMatch(/^[0-9a-f]{64}$/);
      expect(findBuiltinModel(m.name)).toBe(m);
    }
    expect(findBuiltinModel('yolo-v9')).toBeUndefined();
  });
});

describe('prepareBuiltinModel', () => {
  let root: string;
  /** A directory that does not exist yet, two levels deep. */
  let dir: string;
  const prepared: Record<string, Awaited<ReturnType<typeof prepareBuiltinModel>>> = {};

  beforeAll(async () => {
    root = tempDir('prepare');
    dir = path.join(root, 'models', 'nested');
    for (const m of BUILTIN_MODELS) prepared[m.name] = await prepareBuiltinModel(m, dir);
  });
  afterAll(() => {
    if (root) fs.rmSync(root, { recursive: true, force: true });
  });

  it.each(BUILTIN_MODELS.map((m) => [m.name, m] as const))('makes %s, creating the directory, with exactly the pinned bytes', (_name, model) => {
    const file = path.join(dir, model.file);
    expect(prepared[model.name]).toEqual({ path: file, sha256: model.sha256, action: 'written' });
    expect(sha256(file)).toBe(model.sha256);
  });

  it('writes the folded models and nothing else (no unfused sidecar, no staging leftovers)', () => {
    expect(fs.readdirSync(dir).sort()).toEqual(BUILTIN_MODELS.map((m) => m.file).sort());
    for (const m of BUILTIN_MODELS) expect(inspectModel(fs.readFileSync(path.join(dir, m.file))).batchNormCount).toBe(0);
  });

  it('leaves a model with the pinned bytes alone: action present, file untouched', async () => {
    for (const m of BUILTIN_MODELS) {
      const file = path.join(dir, m.file);
      const before = fs.statSync(file);
      expect(await prepareBuiltinModel(m, dir)).toEqual({ path: file, sha256: m.sha256, action: 'present' });
      const after = fs.statSync(file);
      expect([after.mtimeMs, after.ino]).toEqual([before.mtimeMs, before.ino]);
    }
  });

  it('inspectModel reports the VOC model: no BN left, the spec, inputs and outputs with shapes', () => {
    const info = inspectModel(fs.readFileSync(path.join(dir, builtin('mobilenet-ssd-voc-300').file)));
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

  it.each(['faceapi-ssd-mobilenetv1', 'mobilenet-ssd-voc-300'])('makes %s-int8 from its committed table: the fp32 metadata carried over, ssd.precision int8, QDQ around every backbone Conv', (name) => {
    const fp32 = inspectModel(fs.readFileSync(path.join(dir, builtin(name).file)));
    const int8 = inspectModel(fs.readFileSync(path.join(dir, builtin(`${name}-int8`).file)));
    expect(int8.metadata).toEqual({ ...fp32.metadata, 'ssd.precision': 'int8', 'ssd.quantization': expect.any(String) });
    expect(JSON.parse(int8.metadata['ssd.quantization'])).toEqual({ method: 'percentile', percentile: 99.99, tableSha256: expect.stringMatching(/^[0-9a-f]{64}$/), keepFp32: ['heads'] });
    // 35 backbone and extra-layer Convs quantized, the 12 heads kept in fp32.
    expect(int8.opCounts).toEqual(expect.objectContaining({ Conv: 47, QuantizeLinear: 36, DequantizeLinear: 36 + 35 + 35 + 11 }));
    expect([int8.inputs, int8.outputs]).toEqual([fp32.inputs, fp32.outputs]);
  });

  itOnnx('writes models that pass onnx.checker.check_model(full_check=True)', () => {
    const checker = new OnnxChecker('prepare');
    try {
      for (const m of BUILTIN_MODELS) checker.addFile(path.join(dir, m.file));
      expect(checker.run()).toBe(BUILTIN_MODELS.length);
    } finally {
      checker.cleanup();
    }
  });
});

describe('prepareBuiltinModel on a directory that holds something else', () => {
  // The cheaper of the two to make (in jest's context the fold runs much slower than in node).
  const model = builtin('faceapi-ssd-mobilenetv1');
  let dir: string;
  beforeEach(() => {
    dir = tempDir('prepare-again');
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('makes a damaged or stale copy again: action replaced, the pinned bytes', async () => {
    const file = path.join(dir, model.file);
    fs.writeFileSync(file, 'a truncated or older copy');
    expect(await prepareBuiltinModel(model, dir)).toEqual({ path: file, sha256: model.sha256, action: 'replaced' });
    expect(sha256(file)).toBe(model.sha256);
    expect(fs.readdirSync(dir)).toEqual([model.file]);
  });

  it('refuses, and leaves nothing to serve (not even the stale copy), when the bytes it makes are not the pinned ones', async () => {
    const file = path.join(dir, model.file);
    fs.writeFileSync(file, 'stale');
    const made = prepareBuiltinModel({ ...model, sha256: '0'.repeat(64) }, dir);
    await expect(made).rejects.toThrow(ModelMismatchError);
    await expect(made).rejects.toThrow(`${model.name}: made ${model.sha256}, expected ${'0'.repeat(64)}; the sources in node_modules differ from the pinned ones (run npm ci)`);
    expect(fs.readdirSync(dir)).toEqual([]);
  });
});
