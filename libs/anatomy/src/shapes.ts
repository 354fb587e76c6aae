// Static shape inference over an ONNX graph, batch 1, for the operators SSD graphs are made of
// (what the Caffe, tfjs and seeded importers emit). Every figure of the anatomy report comes from
// these shapes and the initializers' dims, so the same graph can be sized at another input size.
import { type AttributeProto, DataType, type GraphProto, type NodeProto, type TensorProto, int64ToSafeNumber, tensorDims } from '@edge-ssd/onnx-io';

export class AnatomyError extends Error {}

export type Shape = readonly number[];

function attr(node: NodeProto, name: string): AttributeProto | undefined {
  return node.attribute.find((a) => a.name === name);
}

function num(v: Parameters<typeof int64ToSafeNumber>[0]): number {
  const n = int64ToSafeNumber(v);
  if (n === undefined) throw new AnatomyError(`integer ${String(v)} is out of range`);
  return n;
}

function intsAttr(node: NodeProto, name: string, fallback: number[]): number[] {
  const a = attr(node, name);
  return a && a.ints.length > 0 ? a.ints.map(num) : fallback;
}

export function intAttr(node: NodeProto, name: string, fallback: number): number {
  const a = attr(node, name);
  return a?.i !== undefined ? num(a.i) : fallback;
}

function stringAttr(node: NodeProto, name: string, fallback: string): string {
  const s = attr(node, name)?.s;
  return s ? new TextDecoder().decode(s) : fallback;
}

/** The values of an integer tensor (Reshape shapes, Reduce axes). */
function intValues(t: TensorProto): number[] {
  if (t.data_type !== DataType.INT64 && t.data_type !== DataType.INT32) throw new AnatomyError(`tensor '${t.name}' is not an integer tensor`);
  if (t.raw_data && t.raw_data.byteLength > 0) {
    const view = new DataView(t.raw_data.buffer, t.raw_data.byteOffset, t.raw_data.byteLength);
    const width = t.data_type === DataType.INT64 ? 8 : 4;
    return Array.from({ length: t.raw_data.byteLength / width }, (_, i) => (width === 8 ? Number(view.getBigInt64(i * 8, true)) : view.getInt32(i * 4, true)));
  }
  return t.data_type === DataType.INT64 ? t.int64_data.map(num) : [...t.int32_data];
}

function broadcast(a: Shape, b: Shape, node: NodeProto): number[] {
  const rank = Math.max(a.length, b.length);
  return Array.from({ length: rank }, (_, i) => {
    const x = a[a.length - rank + i] ?? 1;
    const y = b[b.length - rank + i] ?? 1;
    if (x !== y && x !== 1 && y !== 1) throw new AnatomyError(`node '${node.name}' (${node.op_type}): shapes [${a.join(', ')}] and [${b.join(', ')}] do not broadcast`);
    return x === 1 ? y : x;
  });
}

/** Output size of a convolution or pooling window along one axis (ONNX formula, explicit or auto pads). */
function windowOut(len: number, k: number, stride: number, dilation: number, padBegin: number, padEnd: number, autoPad: string, ceil: boolean): number {
  if (autoPad === 'SAME_UPPER' || autoPad === 'SAME_LOWER') return Math.ceil(len / stride);
  const span = (k - 1) * dilation + 1;
  const raw = (len + padBegin + padEnd - span) / stride;
  if (autoPad === 'VALID') return Math.floor((len - span) / stride) + 1;
  return (ceil ? Math.ceil(raw) : Math.floor(raw)) + 1;
}

/** Spatial output of Conv / MaxPool / AveragePool over an NCHW input with kernel [kh, kw]. */
function windowShape(node: NodeProto, x: Shape, kernel: number[], channels: number): number[] {
  const spatial = x.length - 2;
  const strides = intsAttr(node, 'strides', Array(spatial).fill(1));
  const dilations = intsAttr(node, 'dilations', Array(spatial).fill(1));
  const pads = intsAttr(node, 'pads', Array(2 * spatial).fill(0));
  const autoPad = stringAttr(node, 'auto_pad', 'NOTSET');
  const ceil = intAttr(node, 'ceil_mode', 0) === 1;
  const out = kernel.map((k, i) => windowOut(x[i + 2], k, strides[i], dilations[i], pads[i], pads[i + spatial], autoPad, ceil));
  if (out.some((v) => !(v >= 1))) throw new AnatomyError(`node '${node.name}' (${node.op_type}): empty output for input [${x.join(', ')}]`);
  return [x[0], channels, ...out];
}

const SAME_SHAPE = new Set(['Relu', 'Clip', 'LeakyRelu', 'PRelu', 'Sigmoid', 'Tanh', 'Softmax', 'LogSoftmax', 'BatchNormalization', 'Identity', 'Dropout', 'Sqrt', 'Exp', 'Neg', 'Abs', 'HardSigmoid', 'HardSwish', 'LRN', 'Cast']);
const ELEMENTWISE = new Set(['Add', 'Sub', 'Mul', 'Div', 'Pow', 'Max', 'Min', 'Sum']);

export interface GraphShapes {
  /** Tensor name -> shape (batch 1). */
  readonly shapes: ReadonlyMap<string, Shape>;
  readonly initializers: ReadonlyMap<string, TensorProto>;
}

/**
 * Shapes of every tensor of `graph` with its (first) image input sized `height` x `width` and
 * batch 1. Throws AnatomyError naming the node for an operator it does not know.
 */
export function inferShapes(graph: GraphProto, size: { height: number; width: number } | undefined): GraphShapes {
  const initializers = new Map(graph.initializer.map((t) => [t.name ?? '', t]));
  const shapes = new Map<string, Shape>();
  for (const t of graph.initializer) shapes.set(t.name ?? '', tensorDims(t));
  const inputs = graph.input.filter((i) => !initializers.has(i.name ?? ''));
  for (const [k, input] of inputs.entries()) {
    const dims = input.type?.tensor_type?.shape?.dim ?? [];
    const shape = dims.map((d, i) => {
      if (i === 0) return 1;
      if (k === 0 && size && dims.length === 4 && i >= 2) return i === 2 ? size.height : size.width;
      const v = d.dim_value !== undefined ? int64ToSafeNumber(d.dim_value) : undefined;
      if (v === undefined) throw new AnatomyError(`input '${input.name}' has a dynamic dimension ${i} (${d.dim_param ?? '?'})`);
      return v;
    });
    shapes.set(input.name ?? '', shape);
  }
  const get = (node: NodeProto, i: number): Shape => {
    const s = shapes.get(node.input[i] ?? '');
    if (!s) throw new AnatomyError(`node '${node.name}' (${node.op_type}): input '${node.input[i]}' has no known shape (graph not topologically sorted?)`);
    return s;
  };
  for (const node of graph.node) {
    const op = node.op_type ?? '';
    const x = node.input.length > 0 && node.input[0] !== '' ? get(node, 0) : [];
    let out: number[];
    if (op === 'Conv' || op === 'ConvTranspose') {
      const w = get(node, 1);
      if (op === 'ConvTranspose') throw new AnatomyError(`node '${node.name}': ConvTranspose is not supported by the anatomy report`);
      out = windowShape(node, x, w.slice(2), w[0]);
    } else if (op === 'MaxPool' || op === 'AveragePool') {
      out = windowShape(node, x, intsAttr(node, 'kernel_shape', []), x[1]);
    } else if (op === 'GlobalAveragePool' || op === 'GlobalMaxPool') {
      out = [x[0], x[1], ...x.slice(2).map(() => 1)];
    } else if (SAME_SHAPE.has(op)) {
      out = [...x];
    } else if (ELEMENTWISE.has(op)) {
      out = node.input.slice(1).reduce<number[]>((acc, _, i) => broadcast(acc, get(node, i + 1), node), [...x]);
    } else if (op.startsWith('Reduce')) {
      const fromInput = node.input[1] ? initializers.get(node.input[1]) : undefined;
      const axes = (fromInput ? intValues(fromInput) : intsAttr(node, 'axes', x.map((_, i) => i))).map((a) => (a < 0 ? a + x.length : a));
      const keep = intAttr(node, 'keepdims', 1) === 1;
      out = keep ? x.map((d, i) => (axes.includes(i) ? 1 : d)) : x.filter((_, i) => !axes.includes(i));
    } else if (op === 'Concat') {
      const parts = node.input.map((_, i) => get(node, i));
      const raw = intAttr(node, 'axis', 0);
      const axis = raw < 0 ? raw + x.length : raw;
      out = [...x];
      out[axis] = parts.reduce((s, p) => s + p[axis], 0);
    } else if (op === 'Transpose') {
      const perm = intsAttr(node, 'perm', x.map((_, i) => x.length - 1 - i));
      out = perm.map((p) => x[p]);
    } else if (op === 'Flatten') {
      const raw = intAttr(node, 'axis', 1);
      const axis = raw < 0 ? raw + x.length : raw;
      const prod = (s: Shape) => s.reduce((a, b) => a * b, 1);
      out = [prod(x.slice(0, axis)), prod(x.slice(axis))];
    } else if (op === 'Reshape') {
      const t = initializers.get(node.input[1] ?? '');
      if (!t) throw new AnatomyError(`node '${node.name}' (Reshape): its shape '${node.input[1]}' is not an initializer`);
      out = reshape(x, intValues(t), node);
    } else {
      throw new AnatomyError(`node '${node.name}': operator ${op} is not supported by the anatomy report's shape inference`);
    }
    for (const o of node.output) shapes.set(o, out);
  }
  return { shapes, initializers };
}

/** ONNX Reshape: 0 copies the input dimension, -1 takes what is left. */
function reshape(x: Shape, dims: number[], node: NodeProto): number[] {
  const total = x.reduce((a, b) => a * b, 1);
  const out = dims.map((d, i) => (d === 0 ? x[i] : d));
  const known = out.filter((d) => d !== -1).reduce((a, b) => a * b, 1);
  const free = out.indexOf(-1);
  if (free >= 0) out[free] = total / known;
  if (!Number.isInteger(out[free] ?? 0) || out.reduce((a, b) => a * b, 1) !== total) {
    throw new AnatomyError(`node '${node.name}' (Reshape): cannot reshape [${x.join(', ')}] to [${dims.join(', ')}]`);
  }
  return out;
}
