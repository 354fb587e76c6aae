// Weights are matched to layers by name, as Caffe's CopyTrainedLayersFrom and OpenCV's importer do;
// each blob's shape is checked against the shape the prototxt implies.
import { type CaffeBlob, type CaffeWeights } from './caffemodel';
import { fmt } from './dims';
import type { BlobSpec } from './handler';
import { type Layer, layerError } from './net';

export class LayerWeights {
  private readonly used = new Set<string>();

  constructor(
    private readonly weights: CaffeWeights,
    private readonly file: string,
    private readonly caffemodelName: string,
  ) {}

  /** `layer`'s blobs, checked against `expected` in count and shape. */
  take(layer: Layer, expected: readonly BlobSpec[]): CaffeBlob[] {
    const w = this.weights.layers.get(layer.name);
    if (!w || w.blobs.length === 0) throw layerError(this.file, layer, `the caffemodel '${this.caffemodelName}' has no weights for this layer`);
    this.used.add(layer.name);
    if (w.blobs.length !== expected.length) {
      throw layerError(this.file, layer, `the caffemodel has ${w.blobs.length} weight blob${w.blobs.length === 1 ? '' : 's'} for it, the prototxt implies ${expected.length} (${expected.map((e) => e.role).join(', ')})`);
    }
    w.blobs.forEach((blob, i) => {
      const want = expected[i].shape;
      const got = blob.shape;
      const ok = blob.legacyShape
        ? // Caffe's Blob::ShapeEquals for legacy blobs: compare as 4-D, padded with leading 1s.
          want.length <= 4 && [...Array(4 - want.length).fill(1), ...want].every((d, k) => d === got[k])
        : want.length === got.length && want.every((d, k) => d === got[k]);
      if (!ok) {
        throw layerError(this.file, layer, `weight blob ${i} (${expected[i].role}) in the caffemodel has shape ${fmt(got)}${blob.legacyShape ? ' (legacy num/channels/height/width)' : ''}, but the prototxt implies ${fmt(want)}`);
      }
    });
    return w.blobs;
  }

  /** Caffemodel layers with blobs that no prototxt layer took, in file order. */
  unused(): string[] {
    return [...this.weights.layers.values()].filter((l) => l.blobs.length > 0 && !this.used.has(l.name)).map((l) => l.name);
  }
}
