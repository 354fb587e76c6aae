// The ONNX graph under construction. Tensor names are unique (`base`, `base_1`, ...) and avoid the
// names kept for the net inputs and the SSD outputs; node names are the Caffe layer names (made
// unique the same way), and each node remembers its layer so that dropped nodes can be reported
// by layer.
import { type AttributeValue, DataType, type Dim, GraphBuilder, type ModelOptions, type ModelProto, makeFloatTensor, makeInt64Tensor, makeRawTensor } from '@edge-ssd/onnx-io';
import type { CaffeBlob } from './caffemodel';
import { type LayerEmitter, type TensorValue, tensorValue } from './handler';
import type { Layer, NetInput } from './net';

export class CaffeGraph {
  private readonly b: GraphBuilder;
  private readonly names = new Set<string>();
  private readonly nodeNames = new Set<string>();
  /** Node name -> name of the layer that emitted it. */
  readonly nodeLayer = new Map<string, string>();
  /** Graph inputs in order: NetParameter inputs, then Input layer tops. */
  readonly inputs: NetInput[] = [];
  /** Nodes added so far. */
  nodeCount = 0;

  constructor(
    name: string,
    private readonly reserved: ReadonlySet<string>,
  ) {
    this.b = new GraphBuilder(name);
  }

  /** A tensor name: `base`, or `base_1`, `base_2`... if taken or reserved. */
  private fresh(base: string): string {
    let name = base;
    for (let i = 1; this.names.has(name) || this.reserved.has(name); i++) name = `${base}_${i}`;
    this.names.add(name);
    return name;
  }

  /** Takes a reserved name (net inputs, mbox_loc, mbox_conf). */
  private claim(name: string): string {
    if (this.names.has(name)) throw new Error(`tensor name '${name}' claimed twice`);
    this.names.add(name);
    return name;
  }

  input(name: string, shape: number[]): TensorValue {
    const tensor = this.claim(name);
    this.b.input(tensor, ['N', ...shape.slice(1)]);
    this.inputs.push({ name, shape });
    return tensorValue(tensor, shape);
  }

  rawTensor(name: string, dims: readonly number[], blob: CaffeBlob): string {
    return this.b.initializer(makeRawTensor(this.fresh(name), dims, DataType.FLOAT, blob.bytes()));
  }

  floatConst(name: string, dims: readonly number[], values: ArrayLike<number>): string {
    return this.b.initializer(makeFloatTensor(this.fresh(name), dims, values));
  }

  int64Const(name: string, values: readonly number[]): string {
    return this.b.initializer(makeInt64Tensor(this.fresh(name), [values.length], values));
  }

  /** A node of `layer`; its output is `outputBase` made unique, or exactly `outputBase` when `exact` (a reserved name). */
  node(layer: Layer, op: string, inputs: string[], outputBase: string, attrs: Record<string, AttributeValue> = {}, nodeName?: string, exact = false): string {
    const out = exact ? this.claim(outputBase) : this.fresh(outputBase);
    let name = nodeName ?? layer.name;
    for (let i = 1; this.nodeNames.has(name); i++) name = `${nodeName ?? layer.name}_${i}`;
    this.nodeNames.add(name);
    this.b.node(op, inputs, [out], attrs, name);
    this.nodeLayer.set(name, layer.name);
    this.nodeCount++;
    return out;
  }

  /** Reshape of `x` to `dims`, its shape initializer named after the node. */
  reshape(layer: Layer, x: TensorValue, dims: number[], outputBase: string, nodeName?: string, exact = false): string {
    const shape = this.int64Const(`${nodeName ?? layer.name}/shape`, dims);
    return this.node(layer, 'Reshape', [x.tensor, shape], outputBase, {}, nodeName, exact);
  }

  output(name: string, shape: Dim[]): void {
    this.b.output(name, shape);
  }

  model(options: ModelOptions): ModelProto {
    return this.b.model(options);
  }

  /** What `layer`'s handler emits through; `topBase` names its tops. */
  emitter(layer: Layer, topBase: (i: number) => string): LayerEmitter {
    return {
      topBase,
      node: (op, inputs, outputBase, attrs, nodeName) => this.node(layer, op, inputs, outputBase, attrs, nodeName),
      reshape: (x, dims, outputBase) => this.reshape(layer, x, dims, outputBase),
      rawTensor: (name, dims, blob) => this.rawTensor(name, dims, blob),
      floatConst: (name, dims, values) => this.floatConst(name, dims, values),
      graphInput: (name, shape) => this.input(name, shape),
    };
  }
}
