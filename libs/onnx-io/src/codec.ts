// ONNX model codec: bytes <-> plain ModelProto objects.
//
// Decoding goes through protobufjs' reflection codecs and then `toObject` so that every repeated
// field is a real, mutable array (protobufjs leaves absent repeated fields on a shared frozen
// prototype array). Encoding is deterministic: protobufjs writes fields in field-number order and
// repeated fields in array order, so the same object always yields the same bytes.
//
// Decoding, converting to objects, validating and folding all recurse into nested messages
// (subgraphs in If/Loop attributes, nested TypeProtos), so a hostile file nesting messages
// thousands deep would overflow the stack. decodeModel first walks the wire format (without
// recursion into anything but known message fields) and refuses nesting beyond MAX_MESSAGE_DEPTH,
// protobuf's own default recursion limit, with an OnnxDecodeError.
import * as protobuf from 'protobufjs';
import { ONNX_DESCRIPTOR } from './generated/onnx';
import { GraphProto, ModelProto, TensorProto } from './onnx-types';
import { LazyTensorData, lazyData } from './tensor';

// Reflection codecs built once from the descriptor generated from the vendored onnx.proto. proto2
// keeps presence (a field that was on the wire is re-emitted even when it holds its default) and
// `[packed = true]` exactly where onnx.proto has it, so round trips stay byte-faithful.
const onnxRoot = protobuf.Root.fromJSON(ONNX_DESCRIPTOR);
const ModelProtoType = onnxRoot.lookupType('onnx.ModelProto');
const GraphProtoType = onnxRoot.lookupType('onnx.GraphProto');
const TensorProtoType = onnxRoot.lookupType('onnx.TensorProto');

/** Thrown for bytes that are not a (complete) ONNX model. */
export class OnnxDecodeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'OnnxDecodeError';
  }
}

export interface DecodeOptions {
  /**
   * Check that the result looks like a model (IR version, opset imports, a graph). Random bytes can
   * occasionally parse as a protobuf; this turns them into a clear error. Default true.
   */
  validate?: boolean;
}

const TO_OBJECT_OPTIONS: protobuf.IConversionOptions = {
  longs: BigInt,
  arrays: true,
  defaults: false,
};

/**
 * Deepest nesting of messages below the ModelProto that decoding accepts: protobuf's default
 * recursion limit (CodedInputStream::default_recursion_limit_). A subgraph costs 3 levels (node,
 * attribute, graph), so real models stay far below it.
 */
export const MAX_MESSAGE_DEPTH = 100;

export function decodeModel(bytes: Uint8Array, options: DecodeOptions = {}): ModelProto {
  scanWire(bytes, undefined);
  let message: protobuf.Message;
  try {
    message = ModelProtoType.decode(bytes);
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    throw new OnnxDecodeError(`not a valid ONNX protobuf (truncated or corrupt): ${reason}`);
  }
  const model = normaliseInt64(ModelProtoType.toObject(message, TO_OBJECT_OPTIONS)) as ModelProto;
  if (options.validate !== false) validateModel(model, bytes.length);
  return model;
}

export function encodeModel(model: ModelProto): Uint8Array {
  // Tensors with lazy data (file-backed, deferred) have no raw_data for protobufjs to see.
  if (model.graph?.initializer.some((t) => lazyData(t) !== undefined)) return concatChunks(encodeModelChunks(model));
  const message = ModelProtoType.fromObject(model as unknown as Record<string, unknown>);
  const bytes = ModelProtoType.encode(message).finish();
  // protobufjs returns a Buffer in Node; hand out a plain Uint8Array view over the same memory.
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** raw_data at least this large is passed through by reference by encodeModelChunks. */
const CHUNK_THRESHOLD = 64 * 1024;

/** A piece of an encoded model: bytes, or lazy tensor data read (or computed) when written. */
export type ModelChunk = Uint8Array | LazyTensorData;

/**
 * The bytes of encodeModel(model) as a list of chunks, without building the whole buffer: large
 * raw_data of main-graph initializers are returned as they are (no copy), lazy tensor data as the
 * lazy object (read when written), and everything else is encoded by protobufjs in small pieces.
 * Protobuf encodes a message as the concatenation of its fields in field-number order (protobufjs
 * sorts by id), so encoding the fields before and after a split point separately gives the same
 * bytes. Used to stream a model to a file; concatChunks gives exactly encodeModel(model).
 */
export function encodeModelChunks(model: ModelProto): ModelChunk[] {
  if (!model.graph) return [encodeModel(model)];
  const out: ModelChunk[] = [];
  const [before, after] = splitFields(ModelProtoType, model as unknown as Record<string, unknown>, 'graph');
  out.push(encodeObject(ModelProtoType, before));
  pushDelimited(out, ModelProtoType, 'graph', graphChunks(model.graph));
  out.push(encodeObject(ModelProtoType, after));
  return out.filter((c) => c.byteLength > 0);
}

function graphChunks(graph: GraphProto): ModelChunk[] {
  const out: ModelChunk[] = [];
  const [before, after] = splitFields(GraphProtoType, graph as unknown as Record<string, unknown>, 'initializer');
  out.push(encodeObject(GraphProtoType, before));
  for (const t of graph.initializer) pushDelimited(out, GraphProtoType, 'initializer', tensorChunks(t));
  out.push(encodeObject(GraphProtoType, after));
  return out;
}

function tensorChunks(t: TensorProto): ModelChunk[] {
  const lazy = lazyData(t);
  if (!lazy && (t.raw_data === undefined || t.raw_data.byteLength < CHUNK_THRESHOLD)) return [encodeObject(TensorProtoType, t as unknown as Record<string, unknown>)];
  const [before, after] = splitFields(TensorProtoType, t as unknown as Record<string, unknown>, 'raw_data');
  const raw = lazy ?? (t.raw_data as Uint8Array);
  return [encodeObject(TensorProtoType, before), lengthDelimitedTag(TensorProtoType.fields.raw_data.id, raw.byteLength), raw, encodeObject(TensorProtoType, after)];
}

/** The fields of `obj` with a smaller / larger field number than `field` (which is in neither). */
function splitFields(type: protobuf.Type, obj: Record<string, unknown>, field: string): [Record<string, unknown>, Record<string, unknown>] {
  const id = type.fields[field].id;
  const before: Record<string, unknown> = {};
  const after: Record<string, unknown> = {};
  for (const key of Object.keys(obj)) {
    const f = type.fields[key];
    if (!f || key === field) continue;
    (f.id < id ? before : after)[key] = obj[key];
  }
  return [before, after];
}

function encodeObject(type: protobuf.Type, obj: Record<string, unknown>): Uint8Array {
  const bytes = type.encode(type.fromObject(obj)).finish();
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function lengthDelimitedTag(fieldId: number, length: number): Uint8Array {
  const bytes = protobuf.Writer.create().uint32((fieldId << 3) | 2).uint32(length).finish();
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function pushDelimited(out: ModelChunk[], type: protobuf.Type, field: string, parts: ModelChunk[]): void {
  const length = parts.reduce((n, p) => n + p.byteLength, 0);
  out.push(lengthDelimitedTag(type.fields[field].id, length), ...parts);
}

/**
 * Calls `fn` with the bytes of each chunk in order. Lazy chunks come in pieces of at most
 * `window.byteLength` bytes, all in `window`: a piece is only valid until `fn` returns.
 */
export function forEachChunkPiece(chunks: readonly ModelChunk[], window: Uint8Array, fn: (bytes: Uint8Array) => void): void {
  for (const c of chunks) {
    if (c instanceof Uint8Array) {
      fn(c);
      continue;
    }
    for (let offset = 0; offset < c.byteLength; offset += window.byteLength) {
      const piece = window.subarray(0, Math.min(window.byteLength, c.byteLength - offset));
      c.readInto(piece, offset);
      fn(piece);
    }
  }
}

/** Concatenates chunks into one buffer. */
export function concatChunks(chunks: readonly ModelChunk[]): Uint8Array {
  const total = chunks.reduce((n, c) => n + c.byteLength, 0);
  const out = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    if (c instanceof Uint8Array) out.set(c, at);
    else c.readInto(out.subarray(at, at + c.byteLength), 0);
    at += c.byteLength;
  }
  return out;
}

function validateModel(model: ModelProto, byteLength: number): void {
  if (byteLength === 0) throw new OnnxDecodeError('not an ONNX model: the input is empty');
  const ir = model.ir_version;
  if (ir === undefined || Number(ir) < 1) {
    throw new OnnxDecodeError('not an ONNX model: ir_version is missing');
  }
  // Versions beyond 2^53 do not exist; every reader would have to guess what they mean.
  if (typeof ir === 'bigint') throw new OnnxDecodeError(`not an ONNX model: ir_version ${ir} is out of range`);
  for (const o of model.opset_import) {
    if (typeof o.version === 'bigint') throw new OnnxDecodeError(`not an ONNX model: opset_import '${o.domain ?? ''}' version ${o.version} is out of range`);
  }
  if (!model.graph) throw new OnnxDecodeError('not an ONNX model: it has no graph');
  if (model.opset_import.length === 0 && Number(ir) >= 3) {
    throw new OnnxDecodeError('not an ONNX model: it imports no operator set');
  }
}

/**
 * Replaces bigints that fit a JS number exactly by numbers, in place. Only int64 fields can hold
 * bigints, so homogeneous number arrays and byte arrays are skipped without looking at elements.
 */
function normaliseInt64(value: unknown): unknown {
  if (typeof value === 'bigint') {
    const n = Number(value);
    return Number.isSafeInteger(n) ? n : value;
  }
  if (value === null || typeof value !== 'object' || ArrayBuffer.isView(value)) return value;
  if (Array.isArray(value)) {
    if (value.length === 0 || typeof value[0] === 'number' || typeof value[0] === 'string') return value;
    for (let i = 0; i < value.length; i++) value[i] = normaliseInt64(value[i]);
    return value;
  }
  const record = value as Record<string, unknown>;
  for (const key of Object.keys(record)) record[key] = normaliseInt64(record[key]);
  return record;
}

/** Nesting beyond MAX_MESSAGE_DEPTH, reported as such (not as corruption). */
class TooDeep extends Error {}

/**
 * Walks the wire format of a model without building it: checks that every length fits its
 * enclosing message and that known message fields nest at most MAX_MESSAGE_DEPTH deep, and
 * collects unknown fields into `found` when given. Throws OnnxDecodeError.
 */
function scanWire(bytes: Uint8Array, found: Set<string> | undefined): void {
  try {
    scanMessage(protobuf.Reader.create(bytes), bytes.length, ModelProtoType, found, 0);
  } catch (err) {
    if (err instanceof TooDeep) throw new OnnxDecodeError(err.message);
    const reason = err instanceof Error ? err.message : String(err);
    throw new OnnxDecodeError(`not a valid ONNX protobuf (truncated or corrupt): ${reason}`);
  }
}

/**
 * Lists fields present on the wire that our schema does not know (as `onnx.Message.fieldNumber`,
 * de-duplicated, in first-seen order). protobufjs skips such fields when decoding, so a model
 * carrying them would lose data on re-encoding; the converter refuses such input instead.
 */
export function findUnknownFields(bytes: Uint8Array): string[] {
  const found = new Set<string>();
  scanWire(bytes, found);
  return [...found];
}

function scanMessage(reader: protobuf.Reader, end: number, type: protobuf.Type, found: Set<string> | undefined, depth: number): void {
  if (depth > MAX_MESSAGE_DEPTH) {
    throw new TooDeep(`messages nest deeper than ${MAX_MESSAGE_DEPTH} levels (at byte ${reader.pos}, in ${type.name}: subgraphs within subgraphs?); refusing to decode the model`);
  }
  while (reader.pos < end) {
    const tag = reader.uint32();
    const id = tag >>> 3;
    const wireType = tag & 7;
    if (id === 0) throw new Error(`illegal tag at offset ${reader.pos}`);
    const field = type.fieldsById[id];
    if (!field) {
      found?.add(`${type.fullName.replace(/^\./, '')}.${id}`);
      reader.skipType(wireType);
      continue;
    }
    const resolved = field.resolve().resolvedType;
    if (resolved instanceof protobuf.Type && wireType === 2) {
      const length = reader.uint32();
      const subEnd = reader.pos + length;
      if (subEnd > end) throw new Error(`index out of range: ${subEnd} > ${end}`);
      scanMessage(reader, subEnd, resolved, found, depth + 1);
      reader.pos = subEnd;
    } else {
      reader.skipType(wireType);
    }
  }
  if (reader.pos > end) throw new Error(`index out of range: ${reader.pos} > ${end}`);
}
