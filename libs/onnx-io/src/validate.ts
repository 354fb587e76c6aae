// Structural checks of a decoded model, so that a model that parses but is not valid ONNX gets one
// clear error naming the node, instead of a fold that silently skips it or a confusing
// onnxruntime message later. Not a full checker (no type or shape inference): it checks what the
// converter relies on.
//
// - Every node input is a graph input, an initializer or the output of an *earlier* node (of this
//   graph, or of an enclosing graph for subgraph nodes): a dangling or out-of-order name is named.
// - No tensor is produced twice in a graph, and no node output redefines a graph input or an
//   initializer; initializer names are unique.
// - Graph outputs are defined.
// - The ops the converter rewrites have the arity their schema allows: BatchNormalization (5
//   inputs, 1..5 outputs, 1..3 from opset 14), Conv/ConvTranspose (2..3 inputs, 1 output), Gemm
//   (2..3 inputs, 3 before opset 11), MatMul (2 inputs).
// - Sizes are sizes: initializer dims are non-negative and their element count fits 2^53; declared
//   dims (inputs, outputs, value_info) fit 2^53 (the fold, the summary and the verification read
//   them as numbers).
import { onnxOpsetVersion } from './graph-index';
import { GraphProto, ModelProto, NodeProto, ValueInfoProto, int64ToSafeNumber } from './onnx-types';
import { TensorDataError, tensorElementCount } from './tensor';

export class ModelValidationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ModelValidationError';
  }
}

const ONNX_DOMAINS = new Set(['', 'ai.onnx']);

interface Arity {
  inputs: [number, number];
  outputs: [number, number];
}

function arityOf(node: NodeProto, opset: number): Arity | undefined {
  if (!ONNX_DOMAINS.has(node.domain ?? '')) return undefined;
  switch (node.op_type) {
    case 'BatchNormalization':
      return { inputs: [5, 5], outputs: [1, opset >= 14 ? 3 : 5] };
    case 'Conv':
    case 'ConvTranspose':
      return { inputs: [2, 3], outputs: [1, 1] };
    case 'Gemm':
      return { inputs: [opset >= 11 ? 2 : 3, 3], outputs: [1, 1] };
    case 'MatMul':
      return { inputs: [2, 2], outputs: [1, 1] };
    default:
      return undefined;
  }
}

function nodeLabel(node: NodeProto, index: number, where: string): string {
  const id = node.name ? `node '${node.name}'` : `node #${index}`;
  return `${id} (${node.op_type || '?'})${where ? ` in ${where}` : ''}`;
}

function count(n: number, what: string): string {
  return `${n} ${what}${n === 1 ? '' : 's'}`;
}

function checkDeclaredDims(v: ValueInfoProto, label: string): void {
  for (const d of v.type?.tensor_type?.shape?.dim ?? []) {
    if (d.dim_value !== undefined && int64ToSafeNumber(d.dim_value) === undefined) throw new ModelValidationError(`${label}: dimension ${d.dim_value} is out of range`);
  }
}

/** Throws ModelValidationError with the first problem found. */
export function validateModel(model: ModelProto): void {
  if (!model.graph) throw new ModelValidationError('the model has no graph');
  const opset = onnxOpsetVersion(model);
  validateGraph(model.graph, '', [], opset);
}

function validateGraph(graph: GraphProto, where: string, outer: ReadonlySet<string>[], opset: number): void {
  const scope = where ? ` of ${where}` : '';
  const defined = new Set<string>();
  for (const v of graph.input) if (v.name) defined.add(v.name);
  const initNames = new Set<string>();
  for (const t of graph.initializer) {
    const name = t.name ?? '';
    if (!name) throw new ModelValidationError(`an initializer${scope} has no name`);
    if (initNames.has(name)) throw new ModelValidationError(`initializer '${name}'${scope} is defined twice`);
    try {
      tensorElementCount(t);
    } catch (err) {
      if (err instanceof TensorDataError) throw new ModelValidationError(`initializer '${name}'${scope}: ${err.message.replace(/^tensor '[^']*': /, '')}`);
      throw err;
    }
    initNames.add(name);
    defined.add(name);
  }
  for (const [kind, list] of [['graph input', graph.input], ['graph output', graph.output], ['value_info', graph.value_info]] as const) {
    for (const v of list) checkDeclaredDims(v, `${kind} '${v.name ?? ''}'${scope}`);
  }
  for (const s of graph.sparse_initializer) if (s.values?.name) defined.add(s.values.name);
  const visible = (name: string) => defined.has(name) || outer.some((o) => o.has(name));
  const laterOutputs = new Map<string, number>();
  graph.node.forEach((n, i) => {
    for (const o of n.output) if (o && !laterOutputs.has(o)) laterOutputs.set(o, i);
  });

  graph.node.forEach((node, i) => {
    const label = nodeLabel(node, i, where);
    if (!node.op_type) throw new ModelValidationError(`${label} has no op_type`);
    const arity = arityOf(node, opset);
    if (arity) {
      const [minIn, maxIn] = arity.inputs;
      // Trailing empty names are omitted optional inputs.
      let nIn = node.input.length;
      while (nIn > 0 && node.input[nIn - 1] === '') nIn--;
      if (nIn < minIn || nIn > maxIn) {
        const expected = minIn === maxIn ? `${minIn}` : `${minIn} to ${maxIn}`;
        throw new ModelValidationError(`${label} has ${count(nIn, 'input')}, expected ${expected}`);
      }
      for (let k = 0; k < minIn; k++) {
        if (node.input[k] === '') throw new ModelValidationError(`${label}: required input ${k} is empty`);
      }
      let nOut = node.output.length;
      while (nOut > 0 && node.output[nOut - 1] === '') nOut--;
      if (nOut < arity.outputs[0] || nOut > arity.outputs[1]) {
        const expected = arity.outputs[0] === arity.outputs[1] ? `${arity.outputs[0]}` : `${arity.outputs[0]} to ${arity.outputs[1]}`;
        throw new ModelValidationError(`${label} has ${count(nOut, 'output')}, expected ${expected}`);
      }
      if (node.output[0] === '') throw new ModelValidationError(`${label}: output 0 is empty`);
    }
    for (const input of node.input) {
      if (input === '' || visible(input)) continue;
      const later = laterOutputs.get(input);
      if (later !== undefined && later >= i) {
        throw new ModelValidationError(`${label}: input '${input}' is produced by a later node, ${nodeLabel(graph.node[later], later, where)} (nodes are not in topological order)`);
      }
      throw new ModelValidationError(`${label}: input '${input}' is not a graph input, an initializer or the output of any node`);
    }
    // Subgraphs see this graph's names defined so far (and the enclosing graphs').
    for (const attr of node.attribute) {
      const graphs = [...(attr.g ? [attr.g] : []), ...attr.graphs];
      graphs.forEach((g, k) => {
        const sub = `${node.op_type} '${node.name || `#${i}`}' ${attr.name}${graphs.length > 1 ? `[${k}]` : ''}`;
        validateGraph(g, where ? `${where} > ${sub}` : sub, [...outer, new Set(defined)], opset);
      });
    }
    for (const o of node.output) {
      if (!o) continue;
      if (defined.has(o)) {
        const what = initNames.has(o) ? 'an initializer' : graph.input.some((v) => v.name === o) ? 'a graph input' : 'the output of an earlier node';
        throw new ModelValidationError(`${label}: output '${o}' is already ${what}`);
      }
      defined.add(o);
    }
  });
  for (const o of graph.output) {
    const name = o.name ?? '';
    if (!name) throw new ModelValidationError(`a graph output${scope} has no name`);
    if (!visible(name)) throw new ModelValidationError(`graph output '${name}'${scope} is not produced by any node`);
  }
}
