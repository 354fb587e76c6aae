// A small builder for ONNX graphs: nodes are appended in topological order by construction (an
// input must already be a graph input, an initializer or an earlier node's output), which keeps
// the writer honest and gives the fold tests a compact way to make edge-case graphs.
import { AttributeProto, AttributeType, DataType, GraphProto, ModelProto, NodeProto, TensorProto, ValueInfoProto } from './onnx-types';

/** A dimension: a fixed size or a symbolic name (dim_param) such as the batch dim `N`. */
export type Dim = number | string;

export type AttributeValue = number | string | readonly number[] | TensorProto | { float: number } | { floats: readonly number[] };

export interface ModelOptions {
  irVersion: number;
  opsetVersion: number;
  producerName?: string;
  producerVersion?: string;
  docString?: string;
  metadata?: Readonly<Record<string, string>>;
}

/** Opset/IR pair used by default: opset 17 (IR 8) is what onnx 1.12 (Debian bookworm) checks. */
export const DEFAULT_OPSET = 17;
export const DEFAULT_IR_VERSION = 8;

export class GraphBuilder {
  private readonly nodes: NodeProto[] = [];
  private readonly initializers: TensorProto[] = [];
  private readonly inputs: ValueInfoProto[] = [];
  private readonly outputs: ValueInfoProto[] = [];
  private readonly known = new Set<string>();

  constructor(private readonly name: string) {}

  input(name: string, shape: readonly Dim[], elemType: number = DataType.FLOAT): string {
    this.define(name);
    this.inputs.push(valueInfo(name, shape, elemType));
    return name;
  }

  initializer(tensor: TensorProto): string {
    const name = tensor.name ?? '';
    this.define(name);
    this.initializers.push(tensor);
    return name;
  }

  /** Appends a node; `attrs` values map to INT/INTS/STRING/TENSOR, or FLOAT(S) via {float}/{floats}. */
  node(opType: string, inputs: readonly string[], outputs: readonly string[], attrs: Record<string, AttributeValue> = {}, name?: string): NodeProto {
    for (const input of inputs) {
      if (input !== '' && !this.known.has(input)) throw new Error(`node ${name ?? opType}: input '${input}' is not defined yet`);
    }
    for (const output of outputs) if (output !== '') this.define(output);
    const node: NodeProto = {
      input: [...inputs],
      output: [...outputs],
      op_type: opType,
      attribute: Object.keys(attrs).map((key) => attribute(key, attrs[key])),
      metadata_props: [],
    };
    if (name !== undefined) node.name = name;
    this.nodes.push(node);
    return node;
  }

  output(name: string, shape: readonly Dim[] | undefined, elemType: number = DataType.FLOAT): void {
    if (!this.known.has(name)) throw new Error(`graph output '${name}' is not defined`);
    this.outputs.push(shape ? valueInfo(name, shape, elemType) : { name, type: { tensor_type: { elem_type: elemType } }, metadata_props: [] });
  }

  graph(): GraphProto {
    return {
      node: this.nodes,
      name: this.name,
      initializer: this.initializers,
      sparse_initializer: [],
      input: this.inputs,
      output: this.outputs,
      value_info: [],
      quantization_annotation: [],
      metadata_props: [],
    };
  }

  model(options: ModelOptions): ModelProto {
    const model: ModelProto = {
      ir_version: options.irVersion,
      opset_import: [{ domain: '', version: options.opsetVersion }],
      graph: this.graph(),
      metadata_props: Object.keys(options.metadata ?? {}).map((key) => ({ key, value: (options.metadata ?? {})[key] })),
      training_info: [],
      functions: [],
    };
    if (options.producerName !== undefined) model.producer_name = options.producerName;
    if (options.producerVersion !== undefined) model.producer_version = options.producerVersion;
    if (options.docString !== undefined) model.doc_string = options.docString;
    return model;
  }

  private define(name: string): void {
    if (name === '') throw new Error('empty tensor name');
    if (this.known.has(name)) throw new Error(`tensor '${name}' is defined twice`);
    this.known.add(name);
  }
}

export function valueInfo(name: string, shape: readonly Dim[], elemType: number = DataType.FLOAT): ValueInfoProto {
  return {
    name,
    type: {
      tensor_type: {
        elem_type: elemType,
        shape: { dim: shape.map((d) => (typeof d === 'number' ? { dim_value: d } : { dim_param: d })) },
      },
    },
    metadata_props: [],
  };
}

function emptyAttribute(name: string, type: number): AttributeProto {
  return { name, type, floats: [], ints: [], strings: [], tensors: [], graphs: [], sparse_tensors: [], type_protos: [] };
}

export function attribute(name: string, value: AttributeValue): AttributeProto {
  if (typeof value === 'number') {
    if (!Number.isInteger(value)) throw new Error(`attribute ${name}: use {float: x} for float values`);
    return { ...emptyAttribute(name, AttributeType.INT), i: value };
  }
  if (typeof value === 'string') return { ...emptyAttribute(name, AttributeType.STRING), s: new TextEncoder().encode(value) };
  if (Array.isArray(value)) return { ...emptyAttribute(name, AttributeType.INTS), ints: [...value] };
  if ('float' in value) return { ...emptyAttribute(name, AttributeType.FLOAT), f: value.float };
  if ('floats' in value) return { ...emptyAttribute(name, AttributeType.FLOATS), floats: [...value.floats] };
  return { ...emptyAttribute(name, AttributeType.TENSOR), t: value as TensorProto };
}
