// The Caffe readers on their own: prototxt (protobuf text format) and caffemodel (binary wire
// format), including the writer the other tests use to make caffemodels.
import * as protobuf from 'protobufjs';
import { DEFAULT_IR_VERSION, DEFAULT_OPSET, GraphBuilder, encodeModel } from '@edge-ssd/onnx-io';
import { CaffeImportError, PrototxtSyntaxError, parsePrototxt, readCaffemodel } from '../src';
import { lineOf } from '../src/caffe/prototxt';
import type { NetParameterMsg } from '../src/caffe/types';
import { writeCaffemodel } from '../src/testing';

function syntaxError(text: string): PrototxtSyntaxError {
  try {
    parsePrototxt(text, 'net.prototxt');
  } catch (err) {
    if (err instanceof PrototxtSyntaxError) return err;
    throw err;
  }
  throw new Error('no syntax error');
}

describe('prototxt reader', () => {
  it('reads the deploy.prototxt forms: input/input_shape, nested messages, repeated fields, enums, comments', () => {
    const net = parsePrototxt(
      [
        'name: "MobileNet-SSD"  # a comment',
        'input: "data"',
        'input_shape {',
        '  dim: 1',
        '  dim: 3',
        '  dim: 300',
        '  dim: 300',
        '}',
        'layer {',
        '  name: "conv0"',
        '  type: "Convolution"',
        '  bottom: "data"',
        '  top: "conv0"',
        '  param {',
        '    lr_mult: 1.0',
        '  }',
        '  convolution_param {',
        '    num_output: 32',
        '    bias_term: false',
        '    pad: 1',
        '    kernel_size: 3',
        '    stride: 2',
        '    #engine: CAFFE',
        '    engine: CAFFE',
        '    weight_filler {',
        '      type: "msra"',
        '    }',
        '  }',
        '}',
        'layer {',
        '  name: "detection_out"',
        '  type: "DetectionOutput"',
        '  include {',
        '    phase: TEST',
        '  }',
        '  detection_output_param {',
        '    nms_param { nms_threshold: 0.45 top_k: 100 }',
        '    code_type: CENTER_SIZE',
        '    confidence_threshold: 0.25',
        '  }',
        '}',
      ].join('\n'),
    );
    expect(net.name).toBe('MobileNet-SSD');
    expect(net.input).toEqual(['data']);
    expect(net.input_shape).toEqual([{ dim: [1, 3, 300, 300] }]);
    const [conv, det] = net.layer ?? [];
    // Unknown fields (param, weight_filler) are skipped; known ones typed.
    expect(conv).toEqual({
      name: 'conv0',
      type: 'Convolution',
      bottom: ['data'],
      top: ['conv0'],
      convolution_param: { num_output: 32, bias_term: false, pad: [1], kernel_size: [3], stride: [2], engine: 'CAFFE' },
    });
    expect(det.include).toEqual([{ phase: 'TEST' }]);
    expect(det.detection_output_param).toEqual({ nms_param: { nms_threshold: 0.45, top_k: 100 }, code_type: 'CENTER_SIZE', confidence_threshold: 0.25 });
    expect(lineOf(conv)).toBe(9);
    expect(lineOf(det)).toBe(30);
    expect(lineOf(conv.convolution_param)).toBe(17);
  });

  it('accepts every text-format spelling: lists, <>, separators, escapes, number forms, enum numbers, legacy V1 layers', () => {
    const net = parsePrototxt(
      [
        "name: 'a\\\"b\\n\\x41\\101\\u00e9\\'' \"-tail\";",
        'input: "data", input_dim: [1, 0x3, 010, 8]',
        'state: < phase: 0 level: -2 stage: "s1" stage: "s2" >',
        'layer: { name: "p" type: "PriorBox" prior_box_param { min_size: [60, 1e2] aspect_ratio: 2.f variance: .1 offset: -0.5 step: inf flip: f clip: True } }',
        'layer { name: "r" type: "ReLU" relu_param { negative_slope: -1.5E-2 } phase: TEST }',
        'layers { name: "c" type: CONVOLUTION blobs_lr: 1 convolution_param { num_output: 4 kernel_size: 3 } }',
        'layers { name: "x" type: 4 }',
      ].join('\n'),
    ) as NetParameterMsg;
    expect(net.name).toBe('a"b\nAAé\'-tail');
    expect(net.input_dim).toEqual([1, 3, 8, 8]);
    expect(net.state).toEqual({ phase: 'TRAIN', level: -2, stage: ['s1', 's2'] });
    const [p, r] = net.layer ?? [];
    expect(p.prior_box_param).toEqual({ min_size: [60, 100], aspect_ratio: [2], variance: [0.1], offset: -0.5, step: Infinity, flip: false, clip: true });
    expect(r.relu_param).toEqual({ negative_slope: -0.015 });
    expect(r.phase).toBe('TEST');
    expect(net.layers).toEqual([
      { name: 'c', type: 'CONVOLUTION', convolution_param: { num_output: 4, kernel_size: [3] } },
      { name: 'x', type: 'CONVOLUTION' },
    ]);
  });

  it('reports syntax errors with file, line and column', () => {
    const cases: [string, number, number, RegExp][] = [
      ['name: "x"\nlayer {\n  name "conv"\n}', 3, 8, /expected ':' or '\{' after field name 'name'/],
      ['layer {\n  name: "a"\n', 3, 1, /expected '\}' before end of file/],
      ['name: "abc\n"', 1, 7, /unterminated string/],
      ['layer { name: "a" } }', 1, 21, /expected a field name, got '\}'/],
      ['layer { name: "a" @ }', 1, 19, /unexpected character '@'/],
      ['layer {\n  convolution_param { num_output: "32" }\n}', 2, 35, /field 'num_output' takes an integer/],
      ['layer {\n  convolution_param { num_output: -3 }\n}', 2, 35, /unsigned/],
      ['layer { pooling_param { pool: MEAN } }', 1, 31, /'MEAN' is not a value of PoolMethod/],
      ['layer { convolution_param: 3 }', 1, 28, /field 'convolution_param' is a message/],
      ['layer { name: ["a", "b"] }', 1, 15, /field 'name' is not repeated/],
      ['layer { name: "a" top: [ "b" "c" }', 1, 34, /expected ',' or '\]'/],
      ['input_dim: 1.5', 1, 12, /takes an integer/],
      ['input_dim: 12abc', 1, 12, /malformed number/],
      ['name: "\\q"', 1, 8, /unknown escape/],
      ['layer { relu_param { negative_slope: true } }', 1, 38, /takes a number/],
      ['layer { type: Convolution }', 1, 15, /takes a quoted string/],
      ['layer { [ext.field]: 1 }', 1, 9, /extension fields/],
      ['input_dim: 99999999999', 1, 12, /out of range/],
    ];
    for (const [text, line, column, reason] of cases) {
      const err = syntaxError(text);
      expect({ text, line: err.line, column: err.column }).toEqual({ text, line, column });
      expect(err.message).toMatch(reason);
      expect(err.message).toMatch(new RegExp(`^net\\.prototxt:${line}:${column}: syntax error: `));
      expect(err).toBeInstanceOf(CaffeImportError);
    }
  });

  it('parses unknown fields (so their syntax is checked) and skips them', () => {
    const net = parsePrototxt('layer { name: "a" transform_param { mean_value: [1, 2] crop: { x: -1 } } weird: IDENT other: "s" "t" }');
    expect(net.layer).toEqual([{ name: 'a' }]);
    expect(syntaxError('layer { transform_param { mean_value: 1 x } }').message).toMatch(/1:43: syntax error: expected ':' or '\{'/);
  });
});

describe('caffemodel reader and writer', () => {
  const layers = [
    { name: 'conv', type: 'Convolution', bottom: ['data'], top: ['conv'], blobs: [{ shape: [2, 1, 2, 2], data: [1, -2, 3.5, 4, 5, 6, 7, 8] }, { shape: [2], data: [0.25, -0.5] }] },
    { name: 'bn', type: 'BatchNorm', blobs: [{ shape: [2], data: [10, 20] }, { shape: [2], data: [30, 40] }, { shape: [1], data: [999.5] }] },
    { name: 'relu', type: 'ReLU', blobs: [] },
  ];

  function expectSameLayers(bytes: Uint8Array, legacy: boolean): void {
    const w = readCaffemodel(bytes);
    expect([...w.layers.keys()]).toEqual(['conv', 'bn', 'relu']);
    expect(w.layerCount).toBe(3);
    expect(w.blobCount).toBe(5);
    expect(w.valueCount).toBe(15);
    for (const l of layers) {
      const got = w.layers.get(l.name);
      expect(got?.blobs.map((b) => [...b.values()])).toEqual(l.blobs.map((b) => b.data));
      expect(got?.blobs.map((b) => b.shape)).toEqual(l.blobs.map((b) => (legacy ? [...Array(4 - b.shape.length).fill(1), ...b.shape] : b.shape)));
      expect(got?.blobs.every((b) => b.legacyShape === legacy)).toBe(true);
    }
  }

  it('round-trips packed floats (zero-copy views of the file bytes) with shapes', () => {
    const bytes = writeCaffemodel(layers, { name: 'n' });
    const w = readCaffemodel(bytes);
    expect(w.format).toBe('layer');
    expect(w.name).toBe('n');
    expect(w.layers.get('conv')?.type).toBe('Convolution');
    const raw = w.layers.get('conv')?.blobs[0].bytes() as Uint8Array;
    expect(raw.buffer).toBe(bytes.buffer);
    expectSameLayers(bytes, false);
  });

  it('reads unpacked floats, legacy num/channels/height/width shapes, double_data and the V1 layers form', () => {
    expectSameLayers(writeCaffemodel(layers, { floats: 'unpacked' }), false);
    expectSameLayers(writeCaffemodel(layers, { legacyShapes: true }), true);
    expectSameLayers(writeCaffemodel(layers, { doubles: true }), false);
    const v1Layers = layers.map((l) => ({ ...l, type: l.type === 'BatchNorm' ? 'InnerProduct' : l.type }));
    const v1 = writeCaffemodel(v1Layers, { v1: true, floats: 'unpacked', legacyShapes: true });
    expectSameLayers(v1, true);
    const w = readCaffemodel(v1);
    expect(w.format).toBe('layers');
    expect([...w.layers.values()].map((l) => l.type)).toEqual(['CONVOLUTION', 'INNER_PRODUCT', 'RELU']);
  });

  it('accepts a blob whose floats are split over packed and unpacked runs, and unpacked shape dims', () => {
    const blob = protobuf.Writer.create();
    blob.uint32((7 << 3) | 2).fork().uint32((1 << 3) | 0).int64(1).uint32((1 << 3) | 0).int64(3).ldelim();
    blob.uint32((5 << 3) | 2).fork().float(1.5).ldelim();
    blob.uint32((5 << 3) | 5).float(-2);
    blob.uint32((5 << 3) | 5).float(3);
    blob.uint32((6 << 3) | 2).fork().float(9).ldelim(); // diff: ignored
    const layer = protobuf.Writer.create();
    layer.uint32((1 << 3) | 2).string('x');
    layer.uint32((99 << 3) | 0).uint32(7); // unknown field
    layer.uint32((7 << 3) | 2).bytes(blob.finish());
    const net = protobuf.Writer.create();
    net.uint32((100 << 3) | 2).bytes(layer.finish());
    const w = readCaffemodel(net.finish());
    const b = w.layers.get('x')?.blobs[0];
    expect(b?.shape).toEqual([1, 3]);
    expect([...(b?.values() ?? [])]).toEqual([1.5, -2, 3]);
  });

  it('refuses truncated files at every cut point (or, cut between layers, holds fewer layers)', () => {
    const bytes = writeCaffemodel(layers);
    let errors = 0;
    for (let cut = 1; cut < bytes.length; cut++) {
      let w;
      try {
        w = readCaffemodel(bytes.subarray(0, cut), 'w.caffemodel');
      } catch (err) {
        expect(err).toBeInstanceOf(CaffeImportError);
        expect((err as Error).message).toMatch(/^caffemodel 'w\.caffemodel' (is truncated or corrupt: |holds no layers)/);
        errors++;
        continue;
      }
      expect(w.layerCount).toBeLessThan(3);
    }
    expect(errors).toBeGreaterThan(bytes.length - 5);
  });

  it('refuses files that are not caffemodels, and blobs whose value count does not match their shape', () => {
    expect(() => readCaffemodel(new Uint8Array(0), 'e')).toThrow(/caffemodel 'e' is empty/);
    expect(() => readCaffemodel(new Uint8Array([0xff, 0xff, 0xff]), 'r')).toThrow(CaffeImportError);
    // An ONNX model is a valid protobuf with no NetParameter layers.
    const onnx = encodeModel(buildTinyOnnx());
    expect(() => readCaffemodel(onnx, 'model.onnx')).toThrow(/caffemodel 'model\.onnx' (holds no layers|is truncated or corrupt)/);
    const bad = writeCaffemodel([{ name: 'c', type: 'Convolution', blobs: [{ shape: [4], data: [1, 2, 3, 4] }] }]);
    // Patch the shape [4] -> [5] (the dim varint follows the packed-dims length byte).
    const patched = Uint8Array.from(bad);
    const at = patched.findIndex((v, i) => v === 4 && patched[i - 1] === 1 && patched[i - 2] === 0x0a);
    patched[at] = 5;
    expect(() => readCaffemodel(patched, 'p')).toThrow(/layer 'c' blob 0 holds 4 values, but its shape \[5\] needs 5/);
  });
});

function buildTinyOnnx() {
  const b = new GraphBuilder('g');
  b.input('x', [1]);
  b.node('Relu', ['x'], ['y']);
  b.output('y', [1]);
  return b.model({ irVersion: DEFAULT_IR_VERSION, opsetVersion: DEFAULT_OPSET });
}
