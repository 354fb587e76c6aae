// Dead-node pruning: nodes that no graph output depends on (a side branch nothing reads, or what
// fed only a DetectionOutput input that became part of the spec) are removed with the
// initializers only they used, and reported by layer.
import type { ModelProto } from '@edge-ssd/onnx-io';

/** Removes the dead nodes and their initializers; returns the layers they came from, in node order. */
export function pruneDeadNodes(model: ModelProto, nodeLayer: ReadonlyMap<string, string>): string[] {
  const graph = model.graph;
  if (!graph) return [];
  const needed = new Set(graph.output.map((o) => o.name ?? ''));
  const keep: boolean[] = new Array(graph.node.length).fill(false);
  for (let i = graph.node.length - 1; i >= 0; i--) {
    const node = graph.node[i];
    if (node.output.some((o) => needed.has(o))) {
      keep[i] = true;
      for (const input of node.input) if (input) needed.add(input);
    }
  }
  const dead = new Set<string>();
  graph.node.forEach((n, i) => {
    if (!keep[i]) dead.add(nodeLayer.get(n.name ?? '') ?? n.name ?? '');
  });
  graph.node = graph.node.filter((_, i) => keep[i]);
  graph.initializer = graph.initializer.filter((t) => needed.has(t.name ?? ''));
  return [...dead];
}
