// In-place layers (top == bottom, as BatchNorm/Scale/ReLU are written in deploy.prototxt) reuse a
// blob name for a new value. ONNX tensors are single-assignment, so every write of a blob is a
// version of its own: layers read versions, and each version becomes its own tensor.
import type { Layer } from './net';

export interface BlobVersions {
  /** Per layer index: the versions its bottoms read. */
  bottoms: number[][];
  /** Per layer index: the versions its tops define. */
  tops: number[][];
  /** The versions of the net inputs, in order. */
  inputs: number[];
  /** Per version: the indices of the layers reading it (a layer reading it twice is listed twice). */
  consumers: Map<number, number[]>;
  /** Per blob name: its first version, the one that keeps the blob's name as tensor name. */
  first: Map<string, number>;
}

/**
 * Numbers every blob write in prototxt order. Refuses a bottom nothing produced earlier and a top
 * that rewrites a blob other than in place (top i == bottom i), as Caffe does.
 */
export function blobVersions(layers: readonly Layer[], inputNames: readonly string[], fail: (layer: Layer, message: string) => never): BlobVersions {
  const current = new Map<string, number>();
  const out: BlobVersions = { bottoms: [], tops: [], inputs: [], consumers: new Map(), first: new Map() };
  let next = 0;
  const define = (blob: string): number => {
    const v = next++;
    current.set(blob, v);
    if (!out.first.has(blob)) out.first.set(blob, v);
    out.consumers.set(v, []);
    return v;
  };
  out.inputs = inputNames.map(define);
  for (const layer of layers) {
    out.bottoms[layer.index] = layer.bottom.map((blob) => {
      const v = current.get(blob);
      if (v === undefined) fail(layer, `reads blob '${blob}', which no earlier layer or net input produces`);
      (out.consumers.get(v) as number[]).push(layer.index);
      return v;
    });
    out.tops[layer.index] = layer.top.map((blob, i) => {
      if (current.has(blob) && layer.bottom[i] !== blob) {
        fail(layer, `top blob '${blob}' is already produced by an earlier layer (only in-place reuse, top ${i} == bottom ${i}, is allowed)`);
      }
      return define(blob);
    });
  }
  return out;
}

/** Tensor name base for `layer`'s top `i`: the blob name for its first version, else the layer name. */
export function topBase(versions: BlobVersions, layer: Layer, i: number): string {
  const blob = layer.top[i];
  return versions.first.get(blob) === versions.tops[layer.index][i] ? blob : layer.name;
}
