// ONNX model codec: bytes <-> plain ModelProto objects.
//
// Decoding goes through protobufjs' reflection codecs and then `toObject` so that every repeated
// field is a real, mutable array (protobufjs leaves absent repeated fields on a shared frozen
// prototype array). Encoding is deterministic: protobufjs writes fields in field-number order and
// repeated fields in array order, so the same object always yields the same bytes.
import * as protobuf from 'protobufjs';
import { ModelProtoType } from './onnx-schema';
import { Int64, ModelProto } from './onnx-types';

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

export function decodeModel(bytes: Uint8Array, options: DecodeOptions = {}): ModelProto {
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
  const message = ModelProtoType.fromObject(model as unknown as Record<string, unknown>);
  const bytes = ModelProtoType.encode(message).finish();
  // protobufjs returns a Buffer in Node; hand out a plain Uint8Array view over the same memory.
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function validateModel(model: ModelProto, byteLength: number): void {
  if (byteLength === 0) throw new OnnxDecodeError('not an ONNX model: the input is empty');
  const ir = model.ir_version;
  if (ir === undefined || int64ToNumberSafe(ir) < 1) {
    throw new OnnxDecodeError('not an ONNX model: ir_version is missing');
  }
  if (!model.graph) throw new OnnxDecodeError('not an ONNX model: it has no graph');
  if (model.opset_import.length === 0 && int64ToNumberSafe(ir) >= 3) {
    throw new OnnxDecodeError('not an ONNX model: it imports no operator set');
  }
}

function int64ToNumberSafe(value: Int64): number {
  return typeof value === 'bigint' ? Number(value) : value;
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

/**
 * Lists fields present on the wire that our schema does not know (as `onnx.Message.fieldNumber`,
 * de-duplicated, in first-seen order). protobufjs skips such fields when decoding, so a model
 * carrying them would lose data on re-encoding; the converter refuses such input instead.
 */
export function findUnknownFields(bytes: Uint8Array): string[] {
  const found = new Set<string>();
  try {
    scanMessage(protobuf.Reader.create(bytes), bytes.length, ModelProtoType, found, 0);
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    throw new OnnxDecodeError(`not a valid ONNX protobuf (truncated or corrupt): ${reason}`);
  }
  return [...found];
}

function scanMessage(reader: protobuf.Reader, end: number, type: protobuf.Type, found: Set<string>, depth: number): void {
  if (depth > 100) throw new Error('message nesting too deep');
  while (reader.pos < end) {
    const tag = reader.uint32();
    const id = tag >>> 3;
    const wireType = tag & 7;
    if (id === 0) throw new Error(`illegal tag at offset ${reader.pos}`);
    const field = type.fieldsById[id];
    if (!field) {
      found.add(`${type.fullName.replace(/^\./, '')}.${id}`);
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
