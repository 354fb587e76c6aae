// The ONNX reader as the converter runs it on an untrusted model file: the unknown-field scan,
// decodeModel, inspect, the file reader that leaves large tensors in the file (readModelFile +
// attachLazyData, which must give the same model as decoding the bytes), structural validation and
// the fold (documented never to throw for a model it cannot fold).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { MOBILENET_SSD_VOC_300, SSD_SPEC_METADATA_KEY, serializeSsdSpec } from '@edge-ssd/ssd-core';
import {
  AttributeProto,
  DEFAULT_IR_VERSION,
  DEFAULT_OPSET,
  GraphBuilder,
  GraphProto,
  ModelValidationError,
  OnnxDecodeError,
  attachLazyData,
  decodeModel,
  encodeModel,
  findUnknownFields,
  inspectDecodedModel,
  makeFloatTensor,
  readModelFile,
  validateModel,
  valueInfo,
} from '@edge-ssd/onnx-io';
import { foldBatchNorm } from '@edge-ssd/bn-fuse';
import { Prng } from '@edge-ssd/prng';
import { defineTarget } from '../harness';
import { sandbox } from '../sandbox';

const sb = sandbox();
const scratch = path.join(sb.scratchDir, 'model.onnx');

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.byteLength === b.byteLength && Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

export const target = defineTarget({
  expected: [OnnxDecodeError, ModelValidationError],
  run(data) {
    const unknown = findUnknownFields(data);
    const model = decodeModel(data);
    inspectDecodedModel(model);
    // A tiny threshold, so that the small inputs of a fuzzer exercise the lazy path too.
    fs.writeFileSync(scratch, data);
    const file = readModelFile(scratch, 16);
    try {
      const lazy = decodeModel(file.skeleton);
      attachLazyData(lazy, file);
      if (!sameBytes(encodeModel(lazy), encodeModel(model))) throw new Error('readModelFile + attachLazyData give another model than decodeModel');
    } finally {
      file.close();
    }
    validateModel(model);
    if (unknown.length === 0) foldBatchNorm(model);
  },
});

export const fuzz = target.fuzz;

/** Small valid models made with the project's graph builder. */
export function seeds(): Record<string, Uint8Array> {
  const rng = new Prng(1);
  const rand = (n: number) => Array.from({ length: n }, () => rng.uniform(-1, 1));
  const opts = { irVersion: DEFAULT_IR_VERSION, opsetVersion: DEFAULT_OPSET, producerName: 'fuzz-seed' };
  const bn = (b: GraphBuilder, x: string, c: number, out: string, name: string) => {
    for (const [k, v] of [['scale', rand(c).map((g) => g + 1.5)], ['B', rand(c)], ['mean', rand(c)], ['var', rand(c).map((v) => v + 1.1)]] as const) b.initializer(makeFloatTensor(`${name}_${k}`, [c], v));
    b.node('BatchNormalization', [x, `${name}_scale`, `${name}_B`, `${name}_mean`, `${name}_var`], [out], { epsilon: { float: 1e-5 } }, name);
  };

  const conv = new GraphBuilder('conv-bn');
  conv.input('X', ['N', 2, 4, 4]);
  conv.initializer(makeFloatTensor('W', [3, 2, 3, 3], rand(54)));
  conv.node('Conv', ['X', 'W'], ['c'], { kernel_shape: [3, 3], pads: [1, 1, 1, 1] }, 'conv');
  bn(conv, 'c', 3, 'y', 'bn');
  conv.output('y', ['N', 3, 4, 4]);

  const gemm = new GraphBuilder('gemm-bn');
  gemm.input('X', [2, 4]);
  gemm.initializer(makeFloatTensor('B', [4, 3], rand(12)));
  gemm.node('Gemm', ['X', 'B'], ['g'], { alpha: { float: 0.5 } }, 'gemm');
  bn(gemm, 'g', 3, 'y', 'bn');
  gemm.output('y', [2, 3]);

  // An If whose then-branch folds a Conv + BN reading the outer weight.
  const branch = (name: string, withBn: boolean): GraphProto => {
    const b = new GraphBuilder(name);
    // X comes from the outer graph: declared for the builder, not a branch input.
    b.input('X', ['N', 2, 3, 3]);
    b.initializer(makeFloatTensor(`${name}_W`, [2, 2, 1, 1], rand(4)));
    b.node('Conv', ['X', `${name}_W`], [withBn ? `${name}_c` : `${name}_out`], { kernel_shape: [1, 1] }, `${name}_conv`);
    if (withBn) bn(b, `${name}_c`, 2, `${name}_out`, `${name}_bn`);
    const g = b.graph();
    g.input = [];
    g.output = [valueInfo(`${name}_out`, ['N', 2, 3, 3])];
    return g;
  };
  const graphAttr = (name: string, g: GraphProto): AttributeProto => ({ name, type: 5, g, floats: [], ints: [], strings: [], tensors: [], graphs: [], sparse_tensors: [], type_protos: [] });
  const iff = new GraphBuilder('if');
  iff.input('X', ['N', 2, 3, 3]);
  iff.input('cond', [], 9);
  const node = iff.node('If', ['cond'], ['y'], {}, 'if');
  node.attribute.push(graphAttr('then_branch', branch('then', true)), graphAttr('else_branch', branch('else', false)));
  iff.output('y', ['N', 2, 3, 3]);

  // int64 fields at the edge of what a JS number holds exactly (2^53 - 1): one mutation away from
  // values that do not fit, which every reader of dims, attributes and versions must refuse cleanly.
  const edges = new GraphBuilder('int64-edges');
  edges.input('X', ['N', 2, 4, 4]);
  edges.initializer(makeFloatTensor('W', [3, 2, 1, 1], rand(6)));
  edges.node('Conv', ['X', 'W'], ['c'], { kernel_shape: [1, 1], group: 1 }, 'conv');
  bn(edges, 'c', 3, 'y', 'bn');
  edges.output('y', [Number.MAX_SAFE_INTEGER, 3, 4, 4]);
  const edgesModel = edges.model({ ...opts, irVersion: DEFAULT_IR_VERSION });
  edgesModel.model_version = Number.MAX_SAFE_INTEGER;

  const withSpec = new GraphBuilder('spec');
  withSpec.input('data', ['N', 3, 2, 2]);
  withSpec.node('Relu', ['data'], ['y'], {}, 'relu');
  withSpec.output('y', ['N', 3, 2, 2]);

  return {
    'conv-bn.onnx': encodeModel(conv.model(opts)),
    'gemm-bn.onnx': encodeModel(gemm.model(opts)),
    'if-branch.onnx': encodeModel(iff.model(opts)),
    'int64-edges.onnx': encodeModel(edgesModel),
    'ssd-spec-metadata.onnx': encodeModel(withSpec.model({ ...opts, metadata: { [SSD_SPEC_METADATA_KEY]: serializeSsdSpec(MOBILENET_SSD_VOC_300) } })),
  };
}
