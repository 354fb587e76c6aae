// The QDQ rewrite: a pure function of (model, ranges, plan). Each planned activation tensor gets one
// QuantizeLinear after its producer and one DequantizeLinear before each consumer; each quantized
// Conv reads int8 per-channel weights and an int32 bias through their own DequantizeLinear. Nodes
// are inserted next to the nodes they serve, so the graph stays topologically sorted, and every
// name is derived from the tensor it quantizes, so the same inputs give the same bytes.
import { DataType, type ModelProto, type NodeProto, NameRegistry, type TensorProto, attribute, makeRawTensor, readTensorFloat64, tensorDims } from '@edge-ssd/onnx-io';
import { type ActivationParams, activationParams, quantizeBias, quantizeWeights } from './params';
import { type ConvSite, type QuantPlan, consumersOf } from './plan';

/** Metadata key of how the model was quantized (method, table hash, what was kept in fp32). */
export const QUANTIZATION_KEY = 'ssd.quantization';

export type Ranges = ReadonlyMap<string, readonly [number, number]>;

export interface QdqSummary {
  /** Convs rewritten to DQ -> Conv -> Q. */
  convs: number;
  kept: string[];
  /** Activation tensors with a Q/DQ pair. */
  tensors: number;
  /** Largest |w - dq(q(w))| / max|w_c| over every weight (per-channel rounding error). */
  maxWeightError: number;
}

function bytesOf(array: Int8Array | Uint8Array | Int32Array | Float32Array): Uint8Array {
  // Little-endian on every platform Node runs on; copied so the tensor owns its bytes.
  return new Uint8Array(array.buffer.slice(array.byteOffset, array.byteOffset + array.byteLength));
}

function node(opType: string, name: string, inputs: string[], outputs: string[], axis?: number): NodeProto {
  return { name, op_type: opType, input: inputs, output: outputs, attribute: axis === undefined ? [] : [attribute('axis', axis)], metadata_props: [] };
}

class Rewriter {
  readonly names: NameRegistry;
  readonly added: TensorProto[] = [];
  /** New nodes to place before or after the node of each index, or at the start of the graph. */
  readonly before = new Map<number, NodeProto[]>();
  readonly after = new Map<number, NodeProto[]>();
  readonly start: NodeProto[] = [];
  maxWeightError = 0;

  constructor(model: ModelProto) {
    this.names = NameRegistry.forModel(model);
  }

  tensor(base: string, dims: number[], type: number, data: Int8Array | Uint8Array | Int32Array | Float32Array): string {
    const name = this.names.fresh(base);
    this.added.push(makeRawTensor(name, dims, type, bytesOf(data)));
    return name;
  }

  push(map: Map<number, NodeProto[]>, index: number, n: NodeProto): void {
    const list = map.get(index) ?? [];
    list.push(n);
    map.set(index, list);
  }
}

function quantizeActivation(r: Rewriter, tensor: string, params: ActivationParams, producer: number | undefined, consumers: readonly number[], rename: Map<number, Map<string, string>>): void {
  const scale = r.tensor(`${tensor}_scale`, [], DataType.FLOAT, new Float32Array([params.scale]));
  const zero = r.tensor(`${tensor}_zero_point`, [], DataType.UINT8, new Uint8Array([params.zeroPoint]));
  const quantized = r.names.fresh(`${tensor}_quantized`);
  const q = node('QuantizeLinear', r.names.fresh(`${tensor}_QuantizeLinear`), [tensor, scale, zero], [quantized]);
  if (producer === undefined) r.start.push(q);
  else r.push(r.after, producer, q);
  // One DequantizeLinear per consumer: each node unit onnxruntime fuses owns its DQ.
  for (const c of consumers) {
    const dequantized = r.names.fresh(`${tensor}_dequantized`);
    r.push(r.before, c, node('DequantizeLinear', r.names.fresh(`${tensor}_DequantizeLinear`), [quantized, scale, zero], [dequantized]));
    const map = rename.get(c) ?? new Map<string, string>();
    map.set(tensor, dequantized);
    rename.set(c, map);
  }
}

function quantizeConv(r: Rewriter, site: ConvSite, conv: NodeProto, initializers: Map<string, TensorProto>, inputScale: number): void {
  const w = initializers.get(site.weight)!;
  const dims = tensorDims(w);
  const values = readTensorFloat64(w);
  const channels = dims[0];
  const q = quantizeWeights(values, channels);
  const per = values.length / channels;
  for (let c = 0; c < channels; c++) {
    let absMax = 0;
    for (let i = c * per; i < (c + 1) * per; i++) absMax = Math.max(absMax, Math.abs(values[i]));
    if (absMax === 0) continue;
    for (let i = c * per; i < (c + 1) * per; i++) r.maxWeightError = Math.max(r.maxWeightError, Math.abs(values[i] - q.values[i] * q.scales[c]) / absMax);
  }
  const wq = r.tensor(`${site.weight}_quantized`, dims, DataType.INT8, q.values);
  const ws = r.tensor(`${site.weight}_scale`, [channels], DataType.FLOAT, q.scales);
  const wz = r.tensor(`${site.weight}_zero_point`, [channels], DataType.INT8, new Int8Array(channels));
  const wd = r.names.fresh(`${site.weight}_dequantized`);
  r.push(r.before, site.index, node('DequantizeLinear', r.names.fresh(`${site.weight}_DequantizeLinear`), [wq, ws, wz], [wd], 0));
  conv.input[1] = wd;
  if (site.bias === undefined) return;
  const b = quantizeBias(readTensorFloat64(initializers.get(site.bias)!), inputScale, q.scales);
  const bq = r.tensor(`${site.bias}_quantized`, [channels], DataType.INT32, b.values);
  const bs = r.tensor(`${site.bias}_scale`, [channels], DataType.FLOAT, b.scales);
  const bz = r.tensor(`${site.bias}_zero_point`, [channels], DataType.INT32, new Int32Array(channels));
  const bd = r.names.fresh(`${site.bias}_dequantized`);
  r.push(r.before, site.index, node('DequantizeLinear', r.names.fresh(`${site.bias}_DequantizeLinear`), [bq, bs, bz], [bd], 0));
  conv.input[2] = bd;
}

/**
 * Rewrites a copy of `model` as planned. `ranges` must hold every tensor of the plan; `metadata`
 * adds or replaces metadata entries (the rest is carried over in order). The input is not changed.
 */
export function quantizeQdq(model: ModelProto, plan: QuantPlan, ranges: Ranges, metadata: Readonly<Record<string, string>>): { model: ModelProto; summary: QdqSummary } {
  const source = model.graph!;
  const opset = model.opset_import.find((o) => (o.domain ?? '') === '')?.version ?? 0;
  if (Number(opset) < 13) throw new RangeError(`per-channel QDQ needs ONNX opset 13 or newer; the model has ${opset}`);
  const nodes = source.node.map((n) => ({ ...n, input: [...n.input], output: [...n.output] }));
  const initializers = new Map(source.initializer.map((t) => [t.name ?? '', t]));
  const r = new Rewriter(model);
  const consumers = consumersOf(source);
  const producers = new Map<string, number>();
  source.node.forEach((n, i) => n.output.forEach((o) => producers.set(o, i)));
  const params = new Map<string, ActivationParams>();
  const ceilings = new Map(plan.convs.filter((s) => s.ceiling !== undefined).map((s) => [s.output, s.ceiling!]));
  const rename = new Map<number, Map<string, string>>();
  for (const tensor of plan.tensors) {
    const range = ranges.get(tensor);
    if (!range) throw new RangeError(`the calibration table has no range for tensor '${tensor}'`);
    const p = activationParams(range[0], range[1], ceilings.get(tensor));
    params.set(tensor, p);
    quantizeActivation(r, tensor, p, producers.get(tensor), consumers.get(tensor) ?? [], rename);
  }
  for (const site of plan.convs) quantizeConv(r, site, nodes[site.index], initializers, params.get(site.input)!.scale);
  nodes.forEach((n, i) => {
    const map = rename.get(i);
    if (map) n.input = n.input.map((name) => map.get(name) ?? name);
  });
  const ordered: NodeProto[] = [...r.start];
  nodes.forEach((n, i) => ordered.push(...(r.before.get(i) ?? []), n, ...(r.after.get(i) ?? [])));
  const used = new Set(ordered.flatMap((n) => n.input));
  const graph = { ...source, node: ordered, initializer: [...source.initializer.filter((t) => used.has(t.name ?? '')), ...r.added] };
  const props = model.metadata_props.filter((p) => !((p.key ?? '') in metadata)).map((p) => ({ ...p }));
  for (const key of Object.keys(metadata).sort()) props.push({ key, value: metadata[key] });
  return {
    model: { ...model, graph, metadata_props: props },
    summary: { convs: plan.convs.length, kept: plan.kept.map((s) => s.name), tensors: plan.tensors.length, maxWeightError: r.maxWeightError },
  };
}
