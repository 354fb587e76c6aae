// A tiny SSD that onnxruntime runs in microseconds, for tests of the serving path.
// One prior, three classes (background, cat, dog), 8x8 RGB input scaled to [0, 1]:
//
//   images [N,3,8,8] -> (BatchNormalization, optional, identity statistics)
//     -> GlobalAveragePool -> Flatten -> feat [N,3] (mean R, G, B in [0, 1])
//     -> Gemm(0, 0) -> Reshape [N,1,4]        = boxes: zero offsets, so the box is the prior
//     -> Gemm(W, b) -> Softmax -> Reshape [N,1,3] = scores: logits [0, ln 7, ln 2 + 4 R]
//
// so a black image scores background 0.1, cat 0.7, dog 0.2 and a red one mostly dog: images of
// one batch are told apart by their answers.
import { writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { DEFAULT_IR_VERSION, DEFAULT_OPSET, encodeModel, GraphBuilder, makeFloatTensor, makeInt64Tensor, type ModelProto } from '@edge-ssd/onnx-io';
import { serializeSsdSpec, SSD_SPEC_METADATA_KEY, type SsdSpec } from '@edge-ssd/ssd-core';
import type { PixelImage } from '../image';

export const PRIOR_BOX = [0.1, 0.2, 0.5, 0.6] as const;

export const TINY_SPEC: SsdSpec = {
  format: 'edge-ssd/v1',
  name: 'tiny-ssd',
  input: { name: 'images', width: 8, height: 8, channelOrder: 'RGB', mean: [0, 0, 0], scale: 1 / 255, resize: 'warp' },
  outputs: { loc: 'boxes', conf: 'scores' },
  labels: ['background', 'cat', 'dog'],
  backgroundLabelId: 0,
  priors: { kind: 'table', boxes: [...PRIOR_BOX], variances: [0.1, 0.1, 0.2, 0.2] },
  codeType: 'CENTER_SIZE',
  varianceEncodedInTarget: false,
  clipBoxes: false,
  nms: { scoreThreshold: 0.05, iouThreshold: 0.45, topK: 10, keepTopK: 10, eta: 1 },
};

export interface TinyModelOptions {
  /** Whose tensor names the graph uses (default TINY_SPEC). */
  names?: Pick<SsdSpec, 'input' | 'outputs'>;
  /** The spec written under ssd.spec; null writes none. Default TINY_SPEC. */
  carry?: SsdSpec | null;
  /** Leave a BatchNormalization node in the graph (an unfused model). */
  batchNorm?: boolean;
}

function tinySsdModel(options: TinyModelOptions = {}): ModelProto {
  const names = options.names ?? TINY_SPEC;
  const carry = options.carry === undefined ? TINY_SPEC : options.carry;
  const b = new GraphBuilder('tiny-ssd');
  b.input(names.input.name, ['N', 3, 8, 8]);
  let x = names.input.name;
  if (options.batchNorm) {
    b.initializer(makeFloatTensor('bn_scale', [3], [1, 1, 1]));
    b.initializer(makeFloatTensor('bn_bias', [3], [0, 0, 0]));
    b.initializer(makeFloatTensor('bn_mean', [3], [0, 0, 0]));
    b.initializer(makeFloatTensor('bn_var', [3], [1, 1, 1]));
    b.node('BatchNormalization', [x, 'bn_scale', 'bn_bias', 'bn_mean', 'bn_var'], ['normalised'], { epsilon: { float: 0 } });
    x = 'normalised';
  }
  b.node('GlobalAveragePool', [x], ['pooled']);
  b.node('Flatten', ['pooled'], ['feat'], { axis: 1 });
  b.initializer(makeFloatTensor('loc_w', [3, 4], new Array<number>(12).fill(0)));
  b.initializer(makeFloatTensor('loc_b', [4], [0, 0, 0, 0]));
  b.node('Gemm', ['feat', 'loc_w', 'loc_b'], ['loc_flat']);
  b.initializer(makeInt64Tensor('loc_shape', [3], [-1, 1, 4]));
  b.node('Reshape', ['loc_flat', 'loc_shape'], [names.outputs.loc]);
  b.initializer(makeFloatTensor('conf_w', [3, 3], [0, 0, 4, 0, 0, 0, 0, 0, 0]));
  b.initializer(makeFloatTensor('conf_b', [3], [0, Math.log(7), Math.log(2)]));
  b.node('Gemm', ['feat', 'conf_w', 'conf_b'], ['logits']);
  b.node('Softmax', ['logits'], ['probs'], { axis: 1 });
  b.initializer(makeInt64Tensor('conf_shape', [3], [-1, 1, 3]));
  b.node('Reshape', ['probs', 'conf_shape'], [names.outputs.conf]);
  b.output(names.outputs.loc, ['N', 1, 4]);
  b.output(names.outputs.conf, ['N', 1, 3]);
  const metadata: Record<string, string> = carry ? { [SSD_SPEC_METADATA_KEY]: serializeSsdSpec(carry) } : {};
  return b.model({ irVersion: DEFAULT_IR_VERSION, opsetVersion: DEFAULT_OPSET, producerName: 'detector tests', metadata });
}

export function writeTinySsdModel(dir: string, name: string, options: TinyModelOptions = {}): string {
  const file = path.join(dir, name);
  writeFileSync(file, encodeModel(tinySsdModel(options)));
  return file;
}

/** One colour everywhere, in shared memory as the detector's decoder hands images over. */
export function solidImage(width: number, height: number, rgb: readonly [number, number, number]): PixelImage {
  const data = new Uint8Array(new SharedArrayBuffer(width * height * 3));
  for (let i = 0; i < data.length; i += 3) data.set(rgb, i);
  return { data, width, height, order: 'RGB' };
}
