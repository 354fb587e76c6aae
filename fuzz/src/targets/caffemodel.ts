// The caffemodel reader on untrusted bytes: readCaffemodel, every blob's values in both forms, and
// the importer taking its weights for the fixed tiny net (caffe-net.ts), where blob counts and
// shapes that do not fit the prototxt must be refused, not crash.
import { CaffeImportError, importCaffe, readCaffemodel } from '@edge-ssd/importers';
import { TINY_PROTOTXT, tinyCaffemodel } from '../caffe-net';
import { defineTarget } from '../harness';

export const target = defineTarget({
  expected: [CaffeImportError],
  run(data) {
    const weights = readCaffemodel(data, 'fuzz.caffemodel');
    for (const layer of weights.layers.values()) {
      for (const blob of layer.blobs) {
        if (blob.bytes().byteLength !== blob.count * 4 || blob.values().length !== blob.count) throw new Error(`layer '${layer.name}': a blob of ${blob.count} values gives other sizes`);
      }
    }
    importCaffe(TINY_PROTOTXT, weights, { prototxtName: 'tiny.prototxt', caffemodelName: 'fuzz.caffemodel' });
  },
});

export const fuzz = target.fuzz;

/** The tiny net's weights in every form the writer makes: packed, unpacked, doubles, legacy shapes. */
export function seeds(): Record<string, Uint8Array> {
  return {
    'packed.caffemodel': tinyCaffemodel(),
    'unpacked.caffemodel': tinyCaffemodel({ floats: 'unpacked' }),
    'doubles.caffemodel': tinyCaffemodel({ doubles: true }),
    'legacy-shapes.caffemodel': tinyCaffemodel({ legacyShapes: true }, 2),
  };
}
