// tfjs weights manifests (`*-weights_manifest.json`, or the `weightsManifest` of a `model.json`) and
// their binary shards, decoded the way tfjs-core's `io.decodeWeights` does it
// (tensorflow/tfjs: tfjs-core/src/io/io_utils.ts, `decodeWeight`):
// - a group's shards (`paths`) are concatenated in order, and its weights are laid out back to
//   back in manifest order, with no alignment padding;
// - quantised float32: value = q * scale + min, evaluated in double and stored to a Float32Array
//   (uint8 and uint16, both little-endian), or IEEE binary16 for `float16`;
// - quantised int32: round(q * scale + min);
// - plain float32 / int32: little-endian 4-byte values.
// So the values here are bit for bit the ones face-api computes with. Unlike tfjs, the byte counts
// must add up exactly: a shard that is too short or too long means the manifest and the weights do
// not belong together.
//
// A manifest is untrusted input (readTfjsWeights): its shard paths are opened only inside the
// manifest's directory (safe-open.ts: no absolute path, no `..`, no symlink leading out, regular
// files only), and nothing is read beyond what the manifest declares: the manifest file itself is
// capped at MAX_TFJS_MANIFEST_BYTES, the weights it declares at MAX_TFJS_WEIGHTS_BYTES in total and
// MAX_TFJS_SHARDS files, and a shard larger than the bytes its group still needs is refused before
// it is read.
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { FileRefusal, openInside, readAndClose, readRegularFile } from '@edge-ssd/onnx-io';
import { decodeFloat16 } from '@edge-ssd/onnx-io';
import { InputError } from '../imported';

/** Largest manifest file read (a model.json with its topology is at most a few MB). */
const MAX_TFJS_MANIFEST_BYTES = 16 * 1024 * 1024;
/** Largest total of weight bytes a manifest may declare (face-api's SSD needs 5.6 MB). */
const MAX_TFJS_WEIGHTS_BYTES = 1024 * 1024 * 1024;
/** Most shard paths a manifest may list (tfjs writes 4 MB shards: 4096 of them is 16 GB). */
const MAX_TFJS_SHARDS = 4096;

/** The manifest or its weights cannot be used (missing file, bad JSON, sizes that do not add up). */
export class TfjsImportError extends InputError {}

type TfjsQuantizationDtype = 'uint8' | 'uint16' | 'float16';

interface TfjsQuantization {
  dtype: TfjsQuantizationDtype;
  /** uint8/uint16 only. */
  scale?: number;
  /** uint8/uint16 only. */
  min?: number;
}

export interface TfjsWeightSpec {
  name: string;
  shape: number[];
  dtype: 'float32' | 'int32';
  quantization?: TfjsQuantization;
}

interface TfjsWeightsGroup {
  /** Shard files, relative to the manifest. */
  paths: string[];
  weights: TfjsWeightSpec[];
}

export type TfjsWeightsManifest = TfjsWeightsGroup[];

export interface TfjsTensor {
  name: string;
  shape: number[];
  dtype: 'float32' | 'int32';
  values: Float32Array | Int32Array;
  /** How the tensor was stored: its quantisation dtype, or its own dtype when not quantised. */
  storedAs: TfjsQuantizationDtype | 'float32' | 'int32';
  quantization?: TfjsQuantization;
  /** Index of the manifest group, and the byte range inside the group's concatenated shards. */
  group: number;
  byteOffset: number;
  byteLength: number;
}

/** Decoded weights by name, in manifest order. */
export type TfjsWeightMap = Map<string, TfjsTensor>;

export interface TfjsWeightFile {
  path: string;
  bytes: number;
  sha256: string;
}

export interface TfjsWeights {
  manifestPath: string;
  manifest: TfjsWeightsManifest;
  tensors: TfjsWeightMap;
  /** The manifest itself, then every shard, in order. */
  files: TfjsWeightFile[];
}

const BYTES_PER_VALUE: Record<string, number> = { uint8: 1, uint16: 2, float16: 2, float32: 4, int32: 4 };

function fail(message: string): never {
  throw new TfjsImportError(message);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/**
 * Validates a parsed manifest: a list of groups `{paths, weights}` (or a `model.json` object with a
 * `weightsManifest`). Only float32 and int32 tensors are supported (the dtypes tfjs can quantise);
 * names must be unique across groups; at most MAX_TFJS_SHARDS paths and MAX_TFJS_WEIGHTS_BYTES of
 * declared weights.
 */
export function parseTfjsManifest(value: unknown): TfjsWeightsManifest {
  const groups = isRecord(value) && 'weightsManifest' in value ? value.weightsManifest : value;
  if (!Array.isArray(groups) || groups.length === 0) fail('manifest must be a non-empty array of weight groups (or a model.json with a weightsManifest)');
  const seen = new Set<string>();
  let shardCount = 0;
  let declared = 0;
  return groups.map((g, gi) => {
    const where = `weight group ${gi}`;
    if (!isRecord(g)) fail(`${where} must be an object`);
    const paths = g.paths;
    if (!Array.isArray(paths) || paths.length === 0 || !paths.every((p) => typeof p === 'string' && p.length > 0)) fail(`${where}: paths must be a non-empty array of file names`);
    shardCount += paths.length;
    if (shardCount > MAX_TFJS_SHARDS) fail(`the manifest lists more than ${MAX_TFJS_SHARDS} shard files`);
    if (!Array.isArray(g.weights)) fail(`${where}: weights must be an array`);
    const weights = g.weights.map((w, wi): TfjsWeightSpec => {
      if (!isRecord(w) || typeof w.name !== 'string' || w.name === '') fail(`${where}, weight ${wi}: name must be a non-empty string`);
      const name = w.name;
      if (seen.has(name)) fail(`weight '${name}' is listed twice`);
      seen.add(name);
      const shape = w.shape;
      if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && (d as number) >= 0)) fail(`weight '${name}': shape must be an array of non-negative integers`);
      if (w.dtype !== 'float32' && w.dtype !== 'int32') fail(`weight '${name}': dtype ${JSON.stringify(w.dtype)} is not supported (float32 or int32)`);
      const spec: TfjsWeightSpec = { name, shape: [...(shape as number[])], dtype: w.dtype };
      if (w.quantization !== undefined) {
        const q = w.quantization;
        if (!isRecord(q)) fail(`weight '${name}': quantization must be an object`);
        if (q.dtype !== 'uint8' && q.dtype !== 'uint16' && q.dtype !== 'float16') fail(`weight '${name}': quantization dtype ${JSON.stringify(q.dtype)} is not uint8, uint16 or float16`);
        if (q.dtype === 'float16') {
          if (w.dtype !== 'float32') fail(`weight '${name}': float16 quantization applies to float32 weights only`);
          spec.quantization = { dtype: 'float16' };
        } else {
          if (typeof q.scale !== 'number' || !Number.isFinite(q.scale) || typeof q.min !== 'number' || !Number.isFinite(q.min)) {
            fail(`weight '${name}': ${q.dtype} quantization needs finite scale and min`);
          }
          spec.quantization = { dtype: q.dtype, scale: q.scale, min: q.min };
        }
      }
      // Checked here so that no later size arithmetic can overflow or allocate without bound.
      declared += tfjsWeightByteLength(spec);
      if (!(declared <= MAX_TFJS_WEIGHTS_BYTES)) fail(`weight '${name}': the manifest declares more than ${MAX_TFJS_WEIGHTS_BYTES} bytes of weights`);
      return spec;
    });
    return { paths: [...(paths as string[])], weights };
  });
}

function elementCount(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** Bytes a weight occupies in its shards. */
export function tfjsWeightByteLength(spec: TfjsWeightSpec): number {
  return elementCount(spec.shape) * BYTES_PER_VALUE[spec.quantization?.dtype ?? spec.dtype];
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0];
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}

/** Dequantises one weight from `bytes` (exactly its byte range), with tfjs' arithmetic. */
function decodeTfjsWeight(spec: TfjsWeightSpec, bytes: Uint8Array): Float32Array | Int32Array {
  const count = elementCount(spec.shape);
  const expected = tfjsWeightByteLength(spec);
  if (bytes.byteLength !== expected) fail(`weight '${spec.name}': ${bytes.byteLength} bytes, expected ${expected}`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const q = spec.quantization;
  if (!q) {
    if (spec.dtype === 'float32') {
      const out = new Float32Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getFloat32(i * 4, true);
      return out;
    }
    const out = new Int32Array(count);
    for (let i = 0; i < count; i++) out[i] = view.getInt32(i * 4, true);
    return out;
  }
  const read = q.dtype === 'uint8' ? (i: number) => view.getUint8(i) : (i: number) => view.getUint16(i * 2, true);
  if (q.dtype === 'float16') {
    const out = new Float32Array(count);
    for (let i = 0; i < count; i++) out[i] = decodeFloat16(read(i));
    return out;
  }
  const scale = q.scale as number;
  const min = q.min as number;
  if (spec.dtype === 'float32') {
    const out = new Float32Array(count);
    // Double arithmetic, one rounding on the store: the Float32Array assignment, as in tfjs.
    for (let i = 0; i < count; i++) out[i] = read(i) * scale + min;
    return out;
  }
  const out = new Int32Array(count);
  for (let i = 0; i < count; i++) out[i] = Math.round(read(i) * scale + min);
  return out;
}

/**
 * Decodes every weight of a manifest. `shards[g]` are group g's shard contents in `paths` order;
 * their total size must equal the group's summed weight sizes exactly.
 */
export function decodeTfjsWeights(manifest: TfjsWeightsManifest, shards: readonly (readonly Uint8Array[])[]): TfjsWeightMap {
  if (shards.length !== manifest.length) fail(`${shards.length} shard lists for ${manifest.length} weight groups`);
  const out: TfjsWeightMap = new Map();
  manifest.forEach((group, g) => {
    if (shards[g].length !== group.paths.length) fail(`weight group ${g}: ${shards[g].length} shards for ${group.paths.length} paths`);
    const data = concat(shards[g]);
    const needed = group.weights.reduce((n, w) => n + tfjsWeightByteLength(w), 0);
    if (data.byteLength !== needed) {
      fail(`weight group ${g} (${group.paths.join(', ')}): the shards hold ${data.byteLength} bytes but the manifest describes ${needed}; they do not belong together`);
    }
    let offset = 0;
    for (const spec of group.weights) {
      const byteLength = tfjsWeightByteLength(spec);
      const values = decodeTfjsWeight(spec, data.subarray(offset, offset + byteLength));
      const tensor: TfjsTensor = {
        name: spec.name,
        shape: [...spec.shape],
        dtype: spec.dtype,
        values,
        storedAs: spec.quantization?.dtype ?? spec.dtype,
        group: g,
        byteOffset: offset,
        byteLength,
      };
      if (spec.quantization) tensor.quantization = { ...spec.quantization };
      out.set(spec.name, tensor);
      offset += byteLength;
    }
  });
  return out;
}

function sha256Hex(bytes: Uint8Array): string {
  return crypto.createHash('sha256').update(bytes).digest('hex');
}

function refusal(err: unknown, what: string, file: string, named?: string): never {
  if (err instanceof FileRefusal && named !== undefined && (err.code === 'name' || err.code === 'outside')) {
    const why = err.code === 'name' ? `its path '${named}' ${err.reason}` : err.reason;
    fail(`cannot read ${what} '${file}': ${why}; shard paths must stay inside the manifest's directory`);
  }
  if (err instanceof FileRefusal) fail(`cannot read ${what} '${file}': ${err.reason}`);
  throw err;
}

/**
 * Reads a manifest and its shards (paths relative to the manifest's directory, which they may not
 * leave) and decodes them. Every refusal is a TfjsImportError naming the file.
 */
export function readTfjsWeights(manifestPath: string): TfjsWeights {
  let manifestBytes: Uint8Array;
  try {
    manifestBytes = readRegularFile(manifestPath, MAX_TFJS_MANIFEST_BYTES);
  } catch (err) {
    refusal(err, 'tfjs weights manifest', manifestPath);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(manifestBytes).toString('utf8'));
  } catch (err) {
    fail(`tfjs weights manifest '${manifestPath}' is not JSON: ${(err as Error).message}`);
  }
  let manifest: TfjsWeightsManifest;
  try {
    manifest = parseTfjsManifest(parsed);
  } catch (err) {
    if (err instanceof TfjsImportError) fail(`tfjs weights manifest '${manifestPath}': ${err.message}`);
    throw err;
  }
  const dir = path.dirname(manifestPath);
  const files: TfjsWeightFile[] = [{ path: manifestPath, bytes: manifestBytes.byteLength, sha256: sha256Hex(manifestBytes) }];
  const shards = manifest.map((group, g) => {
    // A shard may hold at most what its group still needs: the group's shards must add up to
    // exactly its weights, so anything larger is refused before it is read.
    let groupLeft = group.weights.reduce((n, w) => n + tfjsWeightByteLength(w), 0);
    return group.paths.map((p) => {
      const file = path.resolve(dir, p);
      let bytes: Uint8Array;
      try {
        const opened = openInside(dir, p);
        if (opened.size > groupLeft) {
          fs.closeSync(opened.fd);
          fail(`weights shard '${file}' is ${opened.size} bytes, more than the ${groupLeft} bytes weight group ${g} of the manifest still needs`);
        }
        bytes = readAndClose(opened);
      } catch (err) {
        refusal(err, 'weights shard', file, p);
      }
      groupLeft -= bytes.byteLength;
      files.push({ path: file, bytes: bytes.byteLength, sha256: sha256Hex(bytes) });
      return bytes;
    });
  });
  return { manifestPath, manifest, tensors: decodeTfjsWeights(manifest, shards), files };
}
