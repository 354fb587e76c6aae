// Hostile nesting: parsers that recurse into nested messages must refuse a file nesting them
// thousands deep with a clear error (the `model` CLI: exit 2, one line), never overflow the stack.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { type AttributeProto, type GraphProto, MAX_MESSAGE_DEPTH, type ModelProto, OnnxDecodeError, decodeModel, encodeModel, findUnknownFields, inspectModel } from '@edge-ssd/onnx-io';
import { PrototxtSyntaxError, parsePrototxt, readCaffemodel } from '@edge-ssd/importers';
import { tinySsdNet, writeCaffemodel } from '@edge-ssd/importers/testing';
import { tempDir } from '@edge-ssd/onnx-io/testing';
import { type CliRun, expectRefused, listDir, runCli } from './helpers';

/** The prototxt reader's nesting limit (importers' MAX_PROTOTXT_DEPTH). */
const MAX_PROTOTXT_DEPTH = 100;

const cli = (...args: string[]): CliRun => runCli(args);

function varint(n: number): number[] {
  const out: number[] = [];
  while (n >= 0x80) {
    out.push((n % 128) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return out;
}

/**
 * Protobuf bytes of `inner` wrapped in length-delimited fields, `fields[0]` outermost (field
 * numbers). Built without quadratic copying: every wrapper is a header (tag, length) in front of
 * what it wraps, so the headers are written outside-in after computing the sizes inside-out.
 */
function wrapped(fields: readonly number[], inner: Uint8Array): Uint8Array {
  const tags = fields.map((f) => varint(f * 8 + 2));
  const sizes = new Array<number>(tags.length + 1);
  sizes[tags.length] = inner.byteLength;
  for (let i = tags.length - 1; i >= 0; i--) sizes[i] = tags[i].length + varint(sizes[i + 1]).length + sizes[i + 1];
  const out = new Uint8Array(sizes[0]);
  let at = 0;
  for (let i = 0; i < tags.length; i++) {
    for (const b of [...tags[i], ...varint(sizes[i + 1])]) out[at++] = b;
  }
  out.set(inner, at);
  return out;
}

const concat = (...parts: Uint8Array[]): Uint8Array => Buffer.concat(parts);

/** A ModelProto (IR 8, opset 17) whose graph nests `levels` subgraphs: node > attribute > graph. */
function nestedModelBytes(levels: number): Uint8Array {
  // ir_version 8, opset_import { version 17 }.
  const header = Uint8Array.from([0x08, 0x08, 0x42, 0x02, 0x10, 0x11]);
  // ModelProto.graph (7), then per level GraphProto.node (1), NodeProto.attribute (5), AttributeProto.g (6).
  const fields = [7];
  for (let i = 0; i < levels; i++) fields.push(1, 5, 6);
  return concat(header, wrapped(fields, new Uint8Array(0)));
}

/** The same nesting as a model object: If nodes whose then_branch holds the next level. */
function nestedModel(levels: number): ModelProto {
  const graph = (level: number): GraphProto => {
    const g: GraphProto = { name: `g${level}`, node: [], initializer: [], sparse_initializer: [], input: [], output: [], value_info: [], quantization_annotation: [], metadata_props: [] };
    if (level < levels) {
      const then: AttributeProto = { name: 'then_branch', type: 5, g: graph(level + 1), floats: [], ints: [], strings: [], tensors: [], graphs: [], sparse_tensors: [], type_protos: [] };
      g.node.push({ op_type: 'If', input: [], output: [], attribute: [then], metadata_props: [] });
    }
    return g;
  };
  return { ir_version: 8, opset_import: [{ domain: '', version: 17 }], graph: graph(0), metadata_props: [], training_info: [], functions: [] };
}

describe('ONNX models nesting subgraphs', () => {
  // Model > graph is depth 1 and every subgraph level adds 3: 33 levels reach depth 100, 34 exceed it.
  const deepest = Math.floor((MAX_MESSAGE_DEPTH - 1) / 3);

  it(`decodes nesting up to MAX_MESSAGE_DEPTH (${MAX_MESSAGE_DEPTH}) and refuses one level more with a clear error`, () => {
    expect(MAX_MESSAGE_DEPTH).toBe(100);
    const ok = decodeModel(encodeModel(nestedModel(deepest)));
    let g = ok.graph;
    for (let i = 0; i < deepest; i++) g = g?.node[0].attribute[0].g;
    expect(g?.name).toBe(`g${deepest}`);
    expect(decodeModel(nestedModelBytes(deepest)).graph?.node).toHaveLength(1);
    expect(() => decodeModel(nestedModelBytes(deepest + 1))).toThrow(/^messages nest deeper than 100 levels \(at byte \d+, in \w+: subgraphs within subgraphs\?\); refusing to decode the model$/);
  });

  it('refuses 100 000 levels of nesting with OnnxDecodeError, not a stack overflow (decode, unknown-field scan, inspect)', () => {
    const bytes = nestedModelBytes(100000);
    for (const read of [decodeModel, findUnknownFields, inspectModel] as ((b: Uint8Array) => unknown)[]) {
      let error: unknown;
      try {
        read(bytes);
      } catch (err) {
        error = err;
      }
      expect(error).toBeInstanceOf(OnnxDecodeError);
      expect((error as Error).message).toMatch(/^messages nest deeper than 100 levels/);
    }
  });

  it('the CLI: convert and inspect exit 2 with one line', () => {
    const dir = tempDir('nesting-onnx');
    try {
      const file = path.join(dir, 'deep.onnx');
      fs.writeFileSync(file, nestedModelBytes(100000));
      const out = path.join(dir, 'out.onnx');
      expectRefused(cli('convert', '--input', file, '--output', out), /^model: input '.*deep\.onnx' is not a usable ONNX model: messages nest deeper than 100 levels \(at byte \d+, in \w+: subgraphs within subgraphs\?\); refusing to decode the model$/);
      expectRefused(cli('inspect', '--input', file), /^model: input '.*deep\.onnx' is not a usable ONNX model: messages nest deeper than 100 levels/);
      expect(listDir(dir)).toEqual(['deep.onnx']);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('Caffe prototxt nesting', () => {
  const nested = (levels: number) => `${'a { '.repeat(levels)}${'} '.repeat(levels)}`;

  it(`parses nesting up to MAX_PROTOTXT_DEPTH (${MAX_PROTOTXT_DEPTH}) and refuses one level more, naming line and column`, () => {
    expect(parsePrototxt(`name: "n"\n${nested(100)}`, 'ok.prototxt').name).toBe('n');
    // 'a { ' is 4 characters: the 101st '{' is at column 3 + 4 * 100.
    expect(() => parsePrototxt(`name: "n"\n${nested(101)}`, 'deep.prototxt')).toThrow(
      new PrototxtSyntaxError('deep.prototxt', 2, 403, 'messages nest deeper than 100 levels (the limit of this reader)'),
    );
  });

  it('refuses 100 000 nested `a {` with PrototxtSyntaxError, not a stack overflow; also as `a <` and in list values', () => {
    for (const text of [nested(100000), `${'a < '.repeat(100000)}`, `${'a: [ { '.repeat(100000)}`]) {
      expect(() => parsePrototxt(text, 'deep.prototxt')).toThrow(PrototxtSyntaxError);
      expect(() => parsePrototxt(text, 'deep.prototxt')).toThrow(/^deep\.prototxt:1:\d+: syntax error: messages nest deeper than 100 levels \(the limit of this reader\)$/);
    }
  });

  it('the CLI exits 2 with one line naming the file, line and column', () => {
    const dir = tempDir('nesting-caffe');
    try {
      const fixture = tinySsdNet();
      const prototxt = path.join(dir, 'deep.prototxt');
      const caffemodel = path.join(dir, 'tiny.caffemodel');
      fs.writeFileSync(prototxt, `name: "deep"\n${nested(100000)}\n`);
      fs.writeFileSync(caffemodel, writeCaffemodel(fixture.layers));
      const out = path.join(dir, 'out.onnx');
      expectRefused(cli('convert', '--prototxt', prototxt, '--caffemodel', caffemodel, '--output', out), /^model: .*deep\.prototxt:2:403: syntax error: messages nest deeper than 100 levels \(the limit of this reader\)$/);
      expect(listDir(dir)).toEqual(['deep.prototxt', 'tiny.caffemodel']);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('caffemodel nesting', () => {
  it('reads the weights of a file whose layer parameters nest 100 000 messages deep: they are skipped by length, not walked', () => {
    const fixture = tinySsdNet();
    const weights = writeCaffemodel(fixture.layers.slice(0, 1));
    // A second layer (NetParameter.layer, 100): name 'deep' (1), then convolution_param (106)
    // holding 100 000 nested weight_filler (7) messages.
    const name = Uint8Array.from([0x0a, 4, ...Buffer.from('deep')]);
    const layer = wrapped([100], concat(name, wrapped([106, ...new Array<number>(100000).fill(7)], new Uint8Array(0))));
    const read = readCaffemodel(concat(weights, layer), 'deep.caffemodel');
    expect([...read.layers.keys()]).toEqual([fixture.layers[0].name, 'deep']);
    expect(read.layers.get('deep')?.blobs).toEqual([]);
    expect(read.blobCount).toBe(fixture.layers[0].blobs.length);
  });
});
