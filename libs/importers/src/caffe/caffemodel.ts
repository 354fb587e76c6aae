// Reader for binary .caffemodel files (a serialized caffe.NetParameter).
//
// Only what inference needs is read: every layer's name, type and weight blobs. Everything else
// in the file (the layer parameters, which the prototxt defines, training settings) is skipped by
// length without being decoded. This is a small wire-format walker of our own rather than a
// protobufjs decode because a decode would turn every weight into a JS number in a JS array (8+
// bytes per float, 5.8M floats for MobileNet-SSD) and `toObject` would copy them once more. Here a
// packed float blob (the form every Caffe writes) stays a zero-copy view of the file bytes; it is
// handed to the ONNX model as raw_data as is (both are little-endian float32), and converted to a
// Float32Array only where values must be computed with (BatchNorm statistics). Unpacked floats and
// double_data, which old writers produce, are gathered into a new Float32Array per blob.
//
// Accepted forms (mobilenet-ssd.md §5.4): NetParameter.layer (100, LayerParameter: name 1, type 2,
// blobs 7) and the legacy NetParameter.layers (2, V1LayerParameter: name 4, type enum 5, blobs 6);
// BlobProto data (5) packed or not, double_data (8), shape (7, BlobShape.dim 1, packed or not) or
// the legacy num/channels/height/width (1-4). Every length is checked against its enclosing
// message, so a truncated or corrupt file is an error, never a silent short read.
//
// Hostile nesting cannot recurse here: the walker descends only along the fixed path NetParameter >
// layer > blob > shape (at most 4 levels) and skips every other field by its length without
// looking inside it, however deeply its content nests.
import { CaffeImportError } from './errors';
import { V1LayerParameterType } from './schema';

export interface CaffeBlob {
  /** Dims from BlobProto.shape, or the legacy [num, channels, height, width]. */
  shape: number[];
  /** True when the shape came from the legacy 4-D fields. */
  legacyShape: boolean;
  /** Number of values. */
  count: number;
  /** The values as little-endian float32 bytes (zero-copy for a single packed `data` field). */
  bytes(): Uint8Array;
  /** The values as float32 (zero-copy when the packed bytes happen to be 4-byte aligned). */
  values(): Float32Array;
}

interface CaffeWeightLayer {
  name: string;
  /** LayerParameter.type, or the V1 enum name mapped to it (e.g. 'Convolution'). */
  type: string;
  blobs: CaffeBlob[];
}

export interface CaffeWeights {
  /** 'layer' (field 100), 'layers' (legacy V1, field 2), or both when a file holds both. */
  format: 'layer' | 'layers' | 'both';
  /** Net name from the file (NetParameter.name), if any. */
  name?: string;
  /** Layers by name. A name that occurs twice keeps the last occurrence, as Caffe's copy does. */
  layers: Map<string, CaffeWeightLayer>;
  layerCount: number;
  blobCount: number;
  valueCount: number;
}

const WIRE_VARINT = 0;
const WIRE_FIXED64 = 1;
const WIRE_BYTES = 2;
const WIRE_FIXED32 = 5;
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

class Corrupt extends Error {}

class WireReader {
  pos = 0;
  constructor(readonly buf: Uint8Array) {}

  /** Reads a varint as an unsigned 64-bit bigint. */
  varint(end: number): bigint {
    let result = 0n;
    let shift = 0n;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= end) throw new Corrupt(`varint runs past the end of its message`);
      const b = this.buf[this.pos++];
      result |= BigInt(b & 0x7f) << shift;
      if ((b & 0x80) === 0) return BigInt.asUintN(64, result);
      shift += 7n;
    }
    throw new Corrupt('varint longer than 10 bytes');
  }

  /** A varint as a JS number (lengths, tags, small ints): must fit 2^53. */
  uint(end: number): number {
    // Fast path for the common one- and two-byte varints.
    const p = this.pos;
    if (p < end && this.buf[p] < 0x80) {
      this.pos++;
      return this.buf[p];
    }
    const v = this.varint(end);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new Corrupt(`varint ${v} is too large`);
    return Number(v);
  }

  /** A varint holding an int32/int64 (two's complement). */
  int(end: number): number {
    const v = BigInt.asIntN(64, this.varint(end));
    if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < -BigInt(Number.MAX_SAFE_INTEGER)) throw new Corrupt(`integer ${v} is too large`);
    return Number(v);
  }

  /** Length prefix of a bytes field: returns [start, end) after checking it fits. */
  delimited(end: number): [number, number] {
    const len = this.uint(end);
    const start = this.pos;
    if (start + len > end) throw new Corrupt(`a field of ${len} bytes at byte ${start} runs past the end of its message (byte ${end})`);
    this.pos = start + len;
    return [start, start + len];
  }

  skip(wireType: number, end: number): void {
    switch (wireType) {
      case WIRE_VARINT:
        this.varint(end);
        return;
      case WIRE_FIXED64:
        this.advance(8, end);
        return;
      case WIRE_BYTES:
        this.delimited(end);
        return;
      case WIRE_FIXED32:
        this.advance(4, end);
        return;
      default:
        // Groups (3, 4) do not occur in caffe.proto; 6 and 7 are invalid.
        throw new Corrupt(`unexpected wire type ${wireType} at byte ${this.pos}`);
    }
  }

  advance(n: number, end: number): void {
    if (this.pos + n > end) throw new Corrupt(`a ${n}-byte value at byte ${this.pos} runs past the end of its message (byte ${end})`);
    this.pos += n;
  }

  /** Reads the next tag; returns [fieldNumber, wireType]. */
  tag(end: number): [number, number] {
    const at = this.pos;
    const t = this.uint(end);
    const field = Math.floor(t / 8);
    if (field === 0) throw new Corrupt(`invalid field number 0 at byte ${at}`);
    return [field, t % 8];
  }

  string(end: number): string {
    const [s, e] = this.delimited(end);
    return new TextDecoder().decode(this.buf.subarray(s, e));
  }
}

type Segment = { kind: 'packed32'; bytes: Uint8Array } | { kind: 'numbers'; values: number[] };

class Blob implements CaffeBlob {
  constructor(
    readonly shape: number[],
    readonly legacyShape: boolean,
    readonly count: number,
    private readonly segments: Segment[],
  ) {}

  bytes(): Uint8Array {
    if (this.segments.length === 1 && this.segments[0].kind === 'packed32') return this.segments[0].bytes;
    const v = this.gather();
    return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
  }

  values(): Float32Array {
    if (this.segments.length === 1 && this.segments[0].kind === 'packed32') {
      const b = this.segments[0].bytes;
      if (LITTLE_ENDIAN && b.byteOffset % 4 === 0) return new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4);
    }
    return this.gather();
  }

  private gather(): Float32Array {
    const out = new Float32Array(this.count);
    let i = 0;
    for (const seg of this.segments) {
      if (seg.kind === 'packed32') {
        const view = new DataView(seg.bytes.buffer, seg.bytes.byteOffset, seg.bytes.byteLength);
        for (let k = 0; k < seg.bytes.byteLength; k += 4) out[i++] = view.getFloat32(k, true);
      } else {
        for (const x of seg.values) out[i++] = x;
      }
    }
    return out;
  }
}

/** Parses a nested message occupying [start, end); leaves the reader at `end`. */
function nested<T>(r: WireReader, start: number, end: number, parse: (r: WireReader, end: number) => T): T {
  const saved = r.pos;
  r.pos = start;
  const out = parse(r, end);
  if (r.pos !== end) throw new Corrupt(`nested message ends at byte ${r.pos}, expected ${end}`);
  r.pos = saved;
  return out;
}

function readBlobShape(r: WireReader, end: number): number[] {
  const dims: number[] = [];
  while (r.pos < end) {
    const [field, wt] = r.tag(end);
    if (field === 1 && wt === WIRE_BYTES) {
      const [s, e] = r.delimited(end);
      nested(r, s, e, (rr, ee) => {
        while (rr.pos < ee) dims.push(rr.int(ee));
      });
    } else if (field === 1 && wt === WIRE_VARINT) {
      dims.push(r.int(end));
    } else if (field === 1) {
      throw new Corrupt(`BlobShape.dim has wire type ${wt}`);
    } else {
      r.skip(wt, end);
    }
  }
  return dims;
}

function readBlob(r: WireReader, end: number, where: string): CaffeBlob {
  let shape: number[] | undefined;
  const legacy = [0, 0, 0, 0];
  let legacySeen = false;
  const data: Segment[] = [];
  const doubles: number[] = [];
  let dataCount = 0;
  while (r.pos < end) {
    const [field, wt] = r.tag(end);
    if (field >= 1 && field <= 4 && wt === WIRE_VARINT) {
      legacy[field - 1] = r.int(end);
      legacySeen = true;
    } else if (field === 7 && wt === WIRE_BYTES) {
      const [s, e] = r.delimited(end);
      shape = nested(r, s, e, readBlobShape);
    } else if (field === 5 && wt === WIRE_BYTES) {
      const [s, e] = r.delimited(end);
      if ((e - s) % 4 !== 0) throw new Corrupt(`${where}: packed float data of ${e - s} bytes is not a multiple of 4`);
      data.push({ kind: 'packed32', bytes: r.buf.subarray(s, e) });
      dataCount += (e - s) / 4;
    } else if (field === 5 && wt === WIRE_FIXED32) {
      const at = r.pos;
      r.advance(4, end);
      const value = new DataView(r.buf.buffer, r.buf.byteOffset + at, 4).getFloat32(0, true);
      const last = data[data.length - 1];
      if (last && last.kind === 'numbers') last.values.push(value);
      else data.push({ kind: 'numbers', values: [value] });
      dataCount++;
    } else if (field === 8 && wt === WIRE_BYTES) {
      const [s, e] = r.delimited(end);
      if ((e - s) % 8 !== 0) throw new Corrupt(`${where}: packed double data of ${e - s} bytes is not a multiple of 8`);
      const view = new DataView(r.buf.buffer, r.buf.byteOffset + s, e - s);
      for (let k = 0; k < e - s; k += 8) doubles.push(view.getFloat64(k, true));
    } else if (field === 8 && wt === WIRE_FIXED64) {
      const at = r.pos;
      r.advance(8, end);
      doubles.push(new DataView(r.buf.buffer, r.buf.byteOffset + at, 8).getFloat64(0, true));
    } else if (field <= 5 || field === 7 || field === 8) {
      throw new Corrupt(`${where}: BlobProto field ${field} has wire type ${wt}`);
    } else {
      // diff (6), double_diff (9): gradients, not needed.
      r.skip(wt, end);
    }
  }
  const dims = shape ?? (legacySeen ? legacy : []);
  if (dims.some((d) => d < 0)) throw new Corrupt(`${where}: negative dimension in shape [${dims.join(', ')}]`);
  // Blob::FromProto: double_data wins when present.
  const segments: Segment[] = doubles.length > 0 ? [{ kind: 'numbers', values: doubles.map(Math.fround) }] : data;
  const count = doubles.length > 0 ? doubles.length : dataCount;
  const expected = dims.reduce((a, b) => a * b, 1);
  if (count !== expected) {
    throw new Corrupt(`${where} holds ${count} values, but its shape [${dims.join(', ')}] needs ${expected}`);
  }
  return new Blob(dims, shape === undefined, count, segments);
}

const V1_TYPE_NAMES: Record<number, string> = (() => {
  const e = V1LayerParameterType.lookupEnum('LayerType');
  return Object.fromEntries(Object.entries(e.values).map(([name, id]) => [id, name]));
})();

function readLayer(r: WireReader, end: number, v1: boolean, index: number): CaffeWeightLayer {
  const nameField = v1 ? 4 : 1;
  const typeField = v1 ? 5 : 2;
  const blobsField = v1 ? 6 : 7;
  let name = '';
  let type = '';
  const blobRanges: [number, number][] = [];
  while (r.pos < end) {
    const [field, wt] = r.tag(end);
    if (field === nameField && wt === WIRE_BYTES) {
      name = r.string(end);
    } else if (field === typeField && !v1 && wt === WIRE_BYTES) {
      type = r.string(end);
    } else if (field === typeField && v1 && wt === WIRE_VARINT) {
      const id = r.uint(end);
      type = V1_TYPE_NAMES[id] ?? `V1 type ${id}`;
    } else if (field === blobsField && wt === WIRE_BYTES) {
      blobRanges.push(r.delimited(end));
    } else if (v1 && field === 1 && wt === WIRE_BYTES) {
      throw new CaffeImportError('the caffemodel uses the V0 layer format (V1LayerParameter.layer), which is not supported; upgrade it with Caffe\'s upgrade_net_proto_binary');
    } else if (field === nameField || field === typeField || field === blobsField) {
      throw new Corrupt(`${v1 ? 'V1LayerParameter' : 'LayerParameter'} field ${field} has wire type ${wt}`);
    } else {
      r.skip(wt, end);
    }
  }
  const label = `layer '${name || `#${index}`}'`;
  const blobs = blobRanges.map(([s, e], i) => nested(r, s, e, (rr, ee) => readBlob(rr, ee, `${label} blob ${i}`)));
  return { name, type, blobs };
}

/**
 * Reads the weights of a caffemodel. Throws CaffeImportError for a file that is truncated,
 * corrupt, or holds no layers. `file` labels the messages.
 */
export function readCaffemodel(bytes: Uint8Array, file = 'caffemodel'): CaffeWeights {
  const r = new WireReader(bytes);
  const end = bytes.byteLength;
  const layers = new Map<string, CaffeWeightLayer>();
  let name: string | undefined;
  let v2 = 0;
  let v1 = 0;
  let blobCount = 0;
  let valueCount = 0;
  try {
    if (end === 0) throw new CaffeImportError(`caffemodel '${file}' is empty`);
    while (r.pos < end) {
      const [field, wt] = r.tag(end);
      if ((field === 100 || field === 2) && wt === WIRE_BYTES) {
        const isV1 = field === 2;
        const [s, e] = r.delimited(end);
        const layer = nested(r, s, e, (rr, ee) => readLayer(rr, ee, isV1, v1 + v2));
        if (isV1) v1++;
        else v2++;
        blobCount += layer.blobs.length;
        for (const b of layer.blobs) valueCount += b.count;
        layers.set(layer.name, layer);
      } else if (field === 1 && wt === WIRE_BYTES) {
        name = r.string(end);
      } else if (field === 100 || field === 2 || field === 1) {
        throw new Corrupt(`NetParameter field ${field} has wire type ${wt}`);
      } else {
        r.skip(wt, end);
      }
    }
  } catch (err) {
    if (err instanceof Corrupt) throw new CaffeImportError(`caffemodel '${file}' is truncated or corrupt: ${err.message}`);
    if (err instanceof CaffeImportError && !err.message.startsWith('caffemodel')) throw new CaffeImportError(`caffemodel '${file}': ${err.message}`);
    throw err;
  }
  if (v1 + v2 === 0) throw new CaffeImportError(`caffemodel '${file}' holds no layers (not a Caffe NetParameter file)`);
  return { format: v1 === 0 ? 'layer' : v2 === 0 ? 'layers' : 'both', name, layers, layerCount: v1 + v2, blobCount, valueCount };
}
