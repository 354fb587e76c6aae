// The Caffe prototxt parser on untrusted text, then the importer building the ONNX graph from it
// with the fixed tiny net's weights (caffe-net.ts): every refusal must be a CaffeImportError
// (PrototxtSyntaxError is one) naming the problem, never a crash or a stack overflow.
import { CaffeImportError, importCaffe, parsePrototxt, readCaffemodel } from '@edge-ssd/importers';
import { TINY_PROTOTXT, tinyCaffemodel } from '../caffe-net';
import { defineTarget } from '../harness';

const weights = readCaffemodel(tinyCaffemodel(), 'tiny.caffemodel');

export const target = defineTarget({
  expected: [CaffeImportError],
  run(data) {
    const text = data.toString('utf8');
    parsePrototxt(text, 'fuzz.prototxt');
    importCaffe(text, weights, { prototxtName: 'fuzz.prototxt', caffemodelName: 'tiny.caffemodel' });
  },
});

export const fuzz = target.fuzz;

/** The tiny net, its legacy V1 `layers` form, and the text-format corners (escapes, lists, `< >`). */
export function seeds(): Record<string, Uint8Array> {
  const v1 = TINY_PROTOTXT.replace(/^layer \{/gm, 'layers {')
    .replace(/type: "Convolution"/g, 'type: CONVOLUTION')
    .replace(/type: "ReLU"/g, 'type: RELU')
    .replace(/type: "Flatten"/g, 'type: FLATTEN')
    .replace(/type: "Softmax"/g, 'type: SOFTMAX');
  const syntax = [
    'name: "esc\\x41\\101\\u00e9\\n" # comment',
    "input: 'data' input_dim: 1 input_dim: 0x3 input_dim: 010 input_dim: 8",
    'layer < name: "a" type: "ReLU" bottom: "data" top: "a" >',
    'layer: { name: "b"; type: "Power", bottom: ["a"] top: ["b"] power_param { power: 1.5e0f scale: -inf shift: nan } }',
    'layer { name: "c" type: "Dropout" bottom: "b" top: "c" include { phase: TEST } exclude { phase: TRAIN } dropout_param { dropout_ratio: .5 } }',
  ].join('\n');
  return {
    'tiny-ssd.prototxt': Buffer.from(TINY_PROTOTXT),
    'tiny-ssd-v1.prototxt': Buffer.from(v1),
    'syntax.prototxt': Buffer.from(`${syntax}\n`),
  };
}
