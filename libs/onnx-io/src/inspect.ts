// Model summary for tools and the detector: node and BatchNormalization counts (the detector
// reports `bn_fused` from batchNormCount === 0), metadata (the SSD spec lives there), and the
// runtime inputs/outputs with their shapes.
import { decodeModel } from './codec';
import { isBatchNorm, onnxOpsetVersion } from './graph-index';
import { runtimeInputs, subgraphsOf } from './graph-index';
import { GraphProto, ModelProto, ValueInfoProto, int64ToApproxNumber, int64ToSafeNumber } from './onnx-types';

/** A dimension: its size, its symbolic name (e.g. 'N'), or null when unknown. */
type InspectedDim = number | string | null;

interface InspectedValue {
  name: string;
  /** TensorProto.DataType of the elements (0 if not a tensor). */
  elemType: number;
  /** null when the model declares no shape. */
  shape: InspectedDim[] | null;
}

export interface ModelInspection {
  /** BatchNormalization nodes in the whole model (subgraphs and functions included). */
  batchNormCount: number;
  /** Nodes of the main graph. */
  nodeCount: number;
  /** Main-graph node count per op type, sorted by op type. */
  opCounts: Record<string, number>;
  metadata: Record<string, string>;
  inputs: InspectedValue[];
  outputs: InspectedValue[];
  irVersion: number;
  opsetVersion: number;
  producerName: string;
  producerVersion: string;
}

export function inspectModel(bytes: Uint8Array): ModelInspection {
  return inspectDecodedModel(decodeModel(bytes));
}

export function inspectDecodedModel(model: ModelProto): ModelInspection {
  const graph = model.graph as GraphProto;
  const opCounts: Record<string, number> = {};
  for (const node of graph.node) {
    const op = node.domain ? `${node.domain}.${node.op_type}` : (node.op_type ?? '?');
    opCounts[op] = (opCounts[op] ?? 0) + 1;
  }
  const metadata: Record<string, string> = {};
  for (const { key, value } of model.metadata_props) if (key !== undefined) metadata[key] = value ?? '';
  return {
    batchNormCount: countBatchNorms(model),
    nodeCount: graph.node.length,
    opCounts: Object.fromEntries(Object.keys(opCounts).sort().map((k) => [k, opCounts[k]])),
    metadata,
    inputs: runtimeInputs(model).map(describeValue),
    outputs: graph.output.map(describeValue),
    irVersion: int64ToApproxNumber(model.ir_version, 0),
    opsetVersion: onnxOpsetVersion(model),
    producerName: model.producer_name ?? '',
    producerVersion: model.producer_version ?? '',
  };
}

function describeValue(v: ValueInfoProto): InspectedValue {
  const t = v.type?.tensor_type;
  // A dim_value beyond 2^53 cannot be a real size: reported as unknown (null).
  const shape = t?.shape ? t.shape.dim.map((d) => (d.dim_value !== undefined ? (int64ToSafeNumber(d.dim_value) ?? null) : (d.dim_param ?? null))) : null;
  return { name: v.name ?? '', elemType: t?.elem_type ?? 0, shape };
}

function countBatchNorms(model: ModelProto): number {
  const inGraph = (g: GraphProto): number =>
    g.node.reduce((n, node) => n + (isBatchNorm(node) ? 1 : 0) + subgraphsOf(node).reduce((m, s) => m + inGraph(s), 0), 0);
  let count = model.graph ? inGraph(model.graph) : 0;
  for (const f of model.functions) count += f.node.filter(isBatchNorm).length;
  return count;
}
