// The tfjs weights manifest parser and decoder on untrusted input: parseTfjsManifest, then
// decodeTfjsWeights on shard bytes cut from the input.
//
// Input: the manifest JSON, a NUL byte, then the shard bytes. Each weight group takes the bytes it
// declares (or what is left), split evenly over its paths; the last group also gets any surplus,
// so both exact and mismatched sizes occur.
import { TfjsImportError, decodeTfjsWeights, parseTfjsManifest, tfjsWeightByteLength, type TfjsWeightsManifest } from '@edge-ssd/importers';
import { defineTarget, expecting } from '../harness';

function cutShards(manifest: TfjsWeightsManifest, data: Uint8Array): Uint8Array[][] {
  let at = 0;
  return manifest.map((group, g) => {
    const declared = group.weights.reduce((n, w) => n + tfjsWeightByteLength(w), 0);
    const end = g === manifest.length - 1 ? data.byteLength : Math.min(data.byteLength, at + declared);
    const bytes = data.subarray(Math.min(at, end), end);
    at = end;
    const n = group.paths.length;
    const piece = Math.floor(bytes.byteLength / n);
    return group.paths.map((_, i) => bytes.subarray(i * piece, i === n - 1 ? bytes.byteLength : (i + 1) * piece));
  });
}

export const target = defineTarget({
  expected: [TfjsImportError],
  run(data) {
    const nul = data.indexOf(0);
    const text = data.subarray(0, nul < 0 ? data.byteLength : nul).toString('utf8');
    // JSON.parse is not under test: its SyntaxError is an expected refusal of the input.
    const parsed = expecting([SyntaxError], () => JSON.parse(text) as unknown);
    if (!parsed.ok) return;
    const manifest = parseTfjsManifest(parsed.value);
    const tensors = decodeTfjsWeights(manifest, cutShards(manifest, nul < 0 ? new Uint8Array(0) : data.subarray(nul + 1)));
    for (const t of tensors.values()) {
      const count = t.shape.reduce((a, b) => a * b, 1);
      if (t.values.length !== count) throw new Error(`weight '${t.name}': ${t.values.length} values for shape [${t.shape.join(', ')}]`);
    }
  },
});

export const fuzz = target.fuzz;

/** Manifests of every dtype and quantisation, single and split shards, and a model.json. */
export function seeds(): Record<string, Uint8Array> {
  const seed = (manifest: unknown, shard: number[]) => Buffer.concat([Buffer.from(JSON.stringify(manifest)), Buffer.from([0]), Buffer.from(shard)]);
  const bytes = (n: number, salt = 0) => Array.from({ length: n }, (_, i) => (i * 37 + salt) % 256);
  const u8 = { name: 'u8', shape: [2, 3], dtype: 'float32', quantization: { dtype: 'uint8', scale: 0.02, min: -1 } };
  const u16 = { name: 'u16', shape: [4], dtype: 'float32', quantization: { dtype: 'uint16', scale: 0.001, min: -3 } };
  const f16 = { name: 'f16', shape: [3], dtype: 'float32', quantization: { dtype: 'float16' } };
  const i32q = { name: 'i32q', shape: [2], dtype: 'int32', quantization: { dtype: 'uint8', scale: 3, min: -7 } };
  const f32 = { name: 'f32', shape: [2], dtype: 'float32' };
  const i32 = { name: 'i32', shape: [1, 2], dtype: 'int32' };
  return {
    'all-dtypes.bin': seed([{ paths: ['a.bin'], weights: [u8, u16, f16, i32q, f32, i32] }], bytes(6 + 8 + 6 + 2 + 8 + 8)),
    'two-groups-split.bin': seed([{ paths: ['a', 'b'], weights: [u8] }, { paths: ['c'], weights: [f32, i32] }], bytes(6 + 16, 5)),
    'model-json.bin': seed({ format: 'graph-model', modelTopology: {}, weightsManifest: [{ paths: ['w.bin'], weights: [f16, u16] }] }, bytes(14, 9)),
  };
}
