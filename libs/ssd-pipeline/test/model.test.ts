// loadModel on small ONNX files written by the test: what it reads from a model (hash, spec,
// BatchNorm folding) and what it refuses, without onnxruntime (it only inspects the graph).
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { DEFAULT_IR_VERSION, DEFAULT_OPSET, encodeModel, GraphBuilder, makeFloatTensor, valueInfo, type ModelProto } from '@edge-ssd/onnx-io';

const namedScale = (name: string, value: number) => makeFloatTensor(name, [], [value]);
import { convBnModel } from '@edge-ssd/onnx-io/testing';
import { MOBILENET_SSD_VOC_300, serializeSsdSpec, SSD_SPEC_METADATA_KEY, SsdSpecError, type SsdSpec } from '@edge-ssd/ssd-core';
import { loadModel } from '../src';

/** A spec whose tensor names are not MobileNet-SSD's, so a test can tell which spec was used. */
const SPEC: SsdSpec = {
  format: 'edge-ssd/v1',
  name: 'tiny-test-ssd',
  input: { name: 'images', width: 16, height: 12, channelOrder: 'RGB', mean: [0, 0, 0], scale: 1, resize: 'letterbox' },
  outputs: { loc: 'boxes', conf: 'scores' },
  labels: ['background', 'cat', 'dog'],
  backgroundLabelId: 0,
  priors: { kind: 'table', boxes: [0.1, 0.2, 0.5, 0.6], variances: [0.1, 0.1, 0.2, 0.2] },
  codeType: 'CENTER_SIZE',
  varianceEncodedInTarget: false,
  clipBoxes: false,
  nms: { scoreThreshold: 0.3, iouThreshold: 0.5, topK: 10, keepTopK: 5, eta: 1 },
};

interface Shape {
  input: string;
  /** Graph outputs, each an Identity of the input. */
  outputs: string[];
  /** Tensors made inside the graph but not listed as its outputs. */
  internal?: string[];
  metadata?: Record<string, string>;
  producerName?: string;
}

/** A graph with the given tensor names; loadModel only looks at names and metadata. */
function namedModel(shape: Shape): ModelProto {
  const b = new GraphBuilder('names');
  b.input(shape.input, ['N', 3, 2, 2]);
  for (const name of [...shape.outputs, ...(shape.internal ?? [])]) b.node('Identity', [shape.input], [name]);
  for (const name of shape.outputs) b.output(name, ['N', 3, 2, 2]);
  return b.model({ irVersion: DEFAULT_IR_VERSION, opsetVersion: DEFAULT_OPSET, producerName: shape.producerName ?? 'model.test', metadata: shape.metadata });
}

const carrying = (spec: SsdSpec) => ({ [SSD_SPEC_METADATA_KEY]: serializeSsdSpec(spec) });

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'ssd-model-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function write(name: string, model: ModelProto | Uint8Array): string {
  const file = path.join(dir, name);
  writeFileSync(file, model instanceof Uint8Array ? model : encodeModel(model));
  return file;
}

describe('loadModel', () => {
  it('takes the spec the model carries under ssd.spec and the sha256 of the file bytes', async () => {
    const file = write('carrying.onnx', namedModel({ input: 'images', outputs: ['boxes', 'scores'], metadata: carrying(SPEC) }));
    const model = await loadModel(file);
    expect(model.carriesSpec).toBe(true);
    expect(model.spec).toEqual(SPEC);
    expect(model.path).toBe(file);
    expect(model.sha256).toBe(createHash('sha256').update(readFileSync(file)).digest('hex'));
    expect(model.sha256).toMatch(/^[0-9a-f]{64}$/);
  });

  it('gives equal files the same sha256 and files differing only in metadata different ones', async () => {
    const shape = { input: 'images', outputs: ['boxes', 'scores'], metadata: carrying(SPEC) };
    const a = await loadModel(write('a.onnx', namedModel(shape)));
    const copy = await loadModel(write('a-copy.onnx', readFileSync(path.join(dir, 'a.onnx'))));
    const other = await loadModel(write('b.onnx', namedModel({ ...shape, producerName: 'another producer' })));
    expect(copy.sha256).toBe(a.sha256);
    expect(other.sha256).not.toBe(a.sha256);
    // Same spec either way: the hash is the only thing that tells the files apart.
    expect(other.spec).toEqual(a.spec);
  });

  it('serves a model without ssd.spec as MobileNet-SSD VOC 300 when it has MobileNet-SSD tensor names', async () => {
    const model = await loadModel(write('plain-mobilenet.onnx', namedModel({ input: 'data', outputs: ['mbox_loc', 'mbox_conf'], metadata: { note: 'no spec here' } })));
    expect(model.carriesSpec).toBe(false);
    expect(model.spec).toEqual(MOBILENET_SSD_VOC_300);
    expect(model.spec.input).toMatchObject({ name: 'data', width: 300, height: 300 });
    expect(model.spec.labels).toHaveLength(21);
  });

  it('prefers the carried spec over the MobileNet-SSD default even when the model has MobileNet-SSD names', async () => {
    const spec = { ...SPEC, input: { ...SPEC.input, name: 'data' }, outputs: { loc: 'mbox_loc', conf: 'mbox_conf' } };
    const model = await loadModel(write('mobilenet-names-own-spec.onnx', namedModel({ input: 'data', outputs: ['mbox_loc', 'mbox_conf'], metadata: carrying(spec) })));
    expect(model.carriesSpec).toBe(true);
    expect(model.spec.name).toBe('tiny-test-ssd');
    expect(model.spec.labels).toEqual(['background', 'cat', 'dog']);
  });

  it('refuses a model without ssd.spec whose tensors are not named as MobileNet-SSD, saying the names were assumed', async () => {
    const file = write('plain-other.onnx', namedModel({ input: 'images', outputs: ['boxes', 'scores'] }));
    await expect(loadModel(file)).rejects.toThrow(`model ${file} has no tensor "data" (it carries no ssd.spec metadata, so MobileNet-SSD names were assumed)`);
  });

  it('refuses a model whose spec names an input the graph does not have', async () => {
    const file = write('wrong-input.onnx', namedModel({ input: 'data', outputs: ['boxes', 'scores'], metadata: carrying(SPEC) }));
    // The whole message: no word of MobileNet-SSD names being assumed, since the model has a spec.
    await expect(loadModel(file)).rejects.toMatchObject({ message: `model ${file} has no tensor "images"` });
  });

  it('refuses a model whose spec names as output a tensor that is only internal to the graph', async () => {
    const file = write('internal-conf.onnx', namedModel({ input: 'images', outputs: ['boxes'], internal: ['scores'], metadata: carrying(SPEC) }));
    await expect(loadModel(file)).rejects.toThrow(`model ${file} has no tensor "scores"`);
  });

  it('refuses a model whose ssd.spec entry is not a valid spec, naming the bad field', async () => {
    const broken = write('bad-spec.onnx', namedModel({ input: 'images', outputs: ['boxes', 'scores'], metadata: { [SSD_SPEC_METADATA_KEY]: JSON.stringify({ ...SPEC, format: 'other/v9' }) } }));
    await expect(loadModel(broken)).rejects.toThrow(SsdSpecError);
    await expect(loadModel(broken)).rejects.toThrow('format must be "edge-ssd/v1", got "other/v9"');
    const notJson = write('not-json-spec.onnx', namedModel({ input: 'images', outputs: ['boxes', 'scores'], metadata: { [SSD_SPEC_METADATA_KEY]: '{"format":' } }));
    await expect(loadModel(notJson)).rejects.toThrow('spec is not valid JSON');
  });

  it('reports whether BatchNormalization nodes are left: bnFused is false for an unfolded graph', async () => {
    // onnx-io's Conv + BatchNormalization fixture: X -> conv_out -> y; both made outputs for the spec.
    const unfolded = convBnModel();
    unfolded.graph!.output.push(valueInfo('conv_out', ['N', 6, 6, 6]));
    unfolded.metadata_props.push({ key: SSD_SPEC_METADATA_KEY, value: serializeSsdSpec({ ...SPEC, input: { ...SPEC.input, name: 'X' }, outputs: { loc: 'conv_out', conf: 'y' } }) });
    expect((await loadModel(write('conv-bn.onnx', unfolded))).bnFused).toBe(false);
    expect((await loadModel(write('identity.onnx', namedModel({ input: 'images', outputs: ['boxes', 'scores'], metadata: carrying(SPEC) })))).bnFused).toBe(true);
  });

  it('reads the precision: ssd.precision when the model declares it, else int8 for a graph with Q/DQ nodes', async () => {
    const names = { input: 'images', outputs: ['boxes', 'scores'] };
    expect((await loadModel(write('fp32.onnx', namedModel({ ...names, metadata: carrying(SPEC) })))).precision).toBe('fp32');
    expect((await loadModel(write('declared.onnx', namedModel({ ...names, metadata: { ...carrying(SPEC), 'ssd.precision': 'int8' } })))).precision).toBe('int8');
    const qdq = new GraphBuilder('qdq');
    qdq.input('images', ['N', 3, 2, 2]);
    qdq.initializer(namedScale('s', 0.5));
    qdq.node('QuantizeLinear', ['images', 's'], ['q']);
    qdq.node('DequantizeLinear', ['q', 's'], ['dq']);
    for (const out of names.outputs) qdq.node('Identity', ['dq'], [out]);
    for (const out of names.outputs) qdq.output(out, ['N', 3, 2, 2]);
    const undeclared = write('qdq.onnx', qdq.model({ irVersion: DEFAULT_IR_VERSION, opsetVersion: DEFAULT_OPSET, metadata: carrying(SPEC) }));
    expect((await loadModel(undeclared)).precision).toBe('int8');
  });

  it('refuses a precision it does not know', async () => {
    const file = write('fp16.onnx', namedModel({ input: 'images', outputs: ['boxes', 'scores'], metadata: { ...carrying(SPEC), 'ssd.precision': 'fp16' } }));
    await expect(loadModel(file)).rejects.toThrow(`model ${file}: ssd.precision must be fp32 or int8, got 'fp16'`);
  });

  it('fails with the path and the reason when the file cannot be read', async () => {
    const missing = path.join(dir, 'missing.onnx');
    await expect(loadModel(missing)).rejects.toThrow(`cannot read model ${missing}: ENOENT`);
    const directory = path.join(dir, 'a-directory.onnx');
    mkdirSync(directory);
    await expect(loadModel(directory)).rejects.toThrow(`cannot read model ${directory}: EISDIR`);
  });

  it('refuses bytes that are not an ONNX model, naming the file', async () => {
    const garbage = write('garbage.onnx', new TextEncoder().encode('this is not a protobuf model'));
    await expect(loadModel(garbage)).rejects.toThrow(`model ${garbage} is not a usable ONNX model: not a valid ONNX protobuf`);
    const empty = write('empty.onnx', new Uint8Array(0));
    await expect(loadModel(empty)).rejects.toThrow(`model ${empty} is not a usable ONNX model: not an ONNX model: the input is empty`);
  });
});
