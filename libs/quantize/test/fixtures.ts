// A small SSD made of the layers the quantizer rewrites (Conv + Relu, depthwise Conv + Clip(0, 6),
// 1x1 Conv + Relu, two 1x1 heads, Transpose/Reshape/Concat/Softmax as MobileNet-SSD ends), with
// seeded weights and a prior table, and synthetic photos-like images (smooth gradients and blobs)
// written as PNG with sharp.
import * as fs from 'node:fs';
import * as path from 'node:path';
import sharp from 'sharp';
import { DEFAULT_IR_VERSION, GraphBuilder, encodeModel, makeFloatTensor, makeInt64Tensor } from '@edge-ssd/onnx-io';
import { Prng } from '@edge-ssd/prng';
import { SSD_SPEC_METADATA_KEY, type SsdSpec, serializeSsdSpec } from '@edge-ssd/ssd-core';

const SIZE = 32;
/** 8x8 feature map after two stride-2 convolutions, one prior per cell. */
const CELLS = 8;
const CLASSES = 3;

const SMALL_SPEC: SsdSpec = {
  format: 'edge-ssd/v1',
  name: 'small-conv-ssd',
  input: { name: 'data', width: SIZE, height: SIZE, channelOrder: 'BGR', mean: [127.5, 127.5, 127.5], scale: 0.007843, resize: 'warp' },
  outputs: { loc: 'mbox_loc', conf: 'mbox_conf' },
  labels: ['background', 'a', 'b'],
  backgroundLabelId: 0,
  priors: {
    kind: 'table',
    boxes: Array.from({ length: CELLS * CELLS }, (_, i) => {
      const [x, y] = [(i % CELLS) / CELLS, Math.floor(i / CELLS) / CELLS];
      return [x, y, x + 0.25, y + 0.25];
    }).flat(),
    variances: [0.1, 0.1, 0.2, 0.2],
  },
  codeType: 'CENTER_SIZE',
  varianceEncodedInTarget: false,
  clipBoxes: false,
  nms: { scoreThreshold: 0.2, iouThreshold: 0.45, topK: 100, keepTopK: 50, eta: 1 },
};

function weights(rng: Prng, name: string, dims: number[], scale: number) {
  const n = dims.reduce((a, b) => a * b, 1);
  return makeFloatTensor(name, dims, Array.from({ length: n }, () => rng.uniform(-scale, scale)));
}

/** The model's bytes; metadata: the spec and one extra entry that must be carried over. */
export function smallConvSsd(seed = 7): Uint8Array {
  const rng = new Prng(seed);
  const b = new GraphBuilder('small-conv-ssd');
  b.input('data', [1, 3, SIZE, SIZE]);
  const conv = (name: string, x: string, cin: number, cout: number, k: number, stride: number, group = 1) => {
    b.initializer(weights(rng, `${name}/W`, [cout, cin / group, k, k], 1 / Math.sqrt((cin / group) * k * k)));
    b.initializer(weights(rng, `${name}/B`, [cout], 0.2));
    const pad = Math.floor(k / 2);
    b.node('Conv', [x, `${name}/W`, `${name}/B`], [name], { kernel_shape: [k, k], strides: [stride, stride], pads: [pad, pad, pad, pad], group }, name);
    return name;
  };
  b.initializer(makeFloatTensor('relu6/min', [], [0]));
  b.initializer(makeFloatTensor('relu6/max', [], [6]));
  b.node('Relu', [conv('conv0', 'data', 3, 8, 3, 2)], ['conv0/relu'], {}, 'conv0/relu');
  b.node('Clip', [conv('conv1/dw', 'conv0/relu', 8, 8, 3, 2, 8), 'relu6/min', 'relu6/max'], ['conv1/dw/relu6'], {}, 'conv1/dw/relu6');
  b.node('Relu', [conv('conv1', 'conv1/dw/relu6', 8, 16, 1, 1)], ['conv1/relu'], {}, 'conv1/relu');
  b.initializer(makeInt64Tensor('loc_shape', [2], [1, -1]));
  b.initializer(makeInt64Tensor('conf_shape', [3], [1, -1, CLASSES]));
  b.node('Transpose', [conv('head_loc', 'conv1/relu', 16, 4, 1, 1)], ['head_loc/perm'], { perm: [0, 2, 3, 1] });
  b.node('Reshape', ['head_loc/perm', 'loc_shape'], ['mbox_loc']);
  b.node('Transpose', [conv('head_conf', 'conv1/relu', 16, CLASSES, 1, 1)], ['head_conf/perm'], { perm: [0, 2, 3, 1] });
  b.node('Reshape', ['head_conf/perm', 'conf_shape'], ['head_conf/flat']);
  b.node('Softmax', ['head_conf/flat'], ['mbox_conf'], { axis: -1 });
  b.output('mbox_loc', [1, CELLS * CELLS * 4]);
  b.output('mbox_conf', [1, CELLS * CELLS, CLASSES]);
  return encodeModel(b.model({ irVersion: DEFAULT_IR_VERSION, opsetVersion: 17, metadata: { [SSD_SPEC_METADATA_KEY]: serializeSsdSpec(SMALL_SPEC), 'test.carried': 'over' } }));
}

/** `count` seeded 48x40 PNG images (gradients with a bright and a dark blob) into `dir`. */
export async function writeImages(dir: string, count: number, seed: number): Promise<string[]> {
  fs.mkdirSync(dir, { recursive: true });
  const rng = new Prng(seed);
  const files: string[] = [];
  for (let k = 0; k < count; k++) {
    const [w, h] = [48, 40];
    const data = Buffer.alloc(w * h * 3);
    const [bx, by, dx, dy] = [rng.uniform(0, w), rng.uniform(0, h), rng.uniform(0, w), rng.uniform(0, h)];
    const tint = [rng.uniform(0, 1), rng.uniform(0, 1), rng.uniform(0, 1)];
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const bright = Math.exp(-((x - bx) ** 2 + (y - by) ** 2) / 40);
        const dark = Math.exp(-((x - dx) ** 2 + (y - dy) ** 2) / 60);
        for (let c = 0; c < 3; c++) data[(y * w + x) * 3 + c] = Math.round(Math.min(255, Math.max(0, 255 * (tint[c] * (x / w) * 0.6 + 0.3 * bright - 0.3 * dark + 0.2))));
      }
    }
    const file = path.join(dir, `img${String(k).padStart(2, '0')}.png`);
    await sharp(data, { raw: { width: w, height: h, channels: 3 } }).png().toFile(file);
    files.push(file);
  }
  return files;
}
