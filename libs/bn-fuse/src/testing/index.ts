// @edge-ssd/bn-fuse/testing: an independent reference of the fold for tests (never used by the
// product): other operation order, float64 throughout, straight from the ONNX tensors.
import { type GraphProto, type ModelProto, type NodeProto, readTensorFloat64 } from '@edge-ssd/onnx-io';

function initializerValues(model: ModelProto, name: string): number[] {
  const t = model.graph?.initializer.find((i) => i.name === name);
  if (!t) throw new Error(`no initializer '${name}'`);
  return Array.from(readTensorFloat64(t));
}

/** W' and b' of a Conv (OIHW weight) folded with the BatchNormalization that follows it. */
export function expectedFold(model: ModelProto, bn: NodeProto, conv: NodeProto): { w: number[]; b: number[] } {
  const [gamma, beta, mean, variance] = bn.input.slice(1, 5).map((n) => initializerValues(model, n));
  const epsAttr = bn.attribute.find((a) => a.name === 'epsilon');
  // FLOAT attributes are float32 on the wire; an in-memory model may hold the unrounded double.
  const eps = Math.fround(epsAttr?.f ?? 1e-5);
  const w = initializerValues(model, conv.input[1]);
  const bias = conv.input[2] ? initializerValues(model, conv.input[2]) : gamma.map(() => 0);
  const block = w.length / gamma.length;
  return {
    w: w.map((v, i) => (v * gamma[Math.floor(i / block)]) / Math.sqrt(variance[Math.floor(i / block)] + eps)),
    b: bias.map((v, c) => beta[c] + (gamma[c] * (v - mean[c])) / Math.sqrt(variance[c] + eps)),
  };
}

/** max over elements of |actual - expected| / (atol + rtol * |expected|): at most 1 when close. */
export function worstToleranceRatio(actual: ArrayLike<number>, expected: ArrayLike<number>, rtol: number, atol = 0): number {
  if (actual.length !== expected.length) throw new Error(`length ${actual.length} vs ${expected.length}`);
  let worst = 0;
  for (let i = 0; i < expected.length; i++) worst = Math.max(worst, Math.abs(actual[i] - expected[i]) / (atol + rtol * Math.abs(expected[i])));
  return worst;
}

/** Every node input is a graph input, an initializer or an output of an earlier node. */
export function isTopologicallySorted(graph: GraphProto): boolean {
  const known = new Set([...graph.input.map((v) => v.name), ...graph.initializer.map((t) => t.name)]);
  for (const n of graph.node) {
    if (n.input.some((i) => i !== '' && !known.has(i))) return false;
    n.output.forEach((o) => known.add(o));
  }
  return true;
}
