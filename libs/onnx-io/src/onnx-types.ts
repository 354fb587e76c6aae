// The ONNX messages as plain objects: the types generated from the vendored onnx.proto
// (generated/onnx.ts), under the names the code uses. Field names are the snake_case names of the
// spec; repeated fields are always arrays after `decodeModel`; optional fields are absent when
// they were not on the wire.
//
// int64 fields hold a `number` when the value is a safe integer and a `bigint` otherwise, so values
// such as INT64_MAX (common in Slice `ends`) survive a decode/encode round trip bit for bit.
import type { Int64 } from './generated/onnx';

export type {
  AttributeProto,
  GraphProto,
  Int64,
  ModelProto,
  NodeProto,
  SparseTensorProto,
  TensorProto,
  ValueInfoProto,
} from './generated/onnx';
export {
  AttributeProto_AttributeType as AttributeType,
  TensorProto_DataType as DataType,
} from './generated/onnx';

/** Converts an int64 field to a JS number; throws if it does not fit exactly. */
/**
 * An int64 as the nearest JS number, never throwing. For small-valued fields (versions, flags,
 * group counts) where anything beyond 2^53 is invalid anyway: the checks that follow refuse it.
 */
export function int64ToApproxNumber(value: Int64 | undefined, fallback = 0): number {
  return value === undefined ? fallback : Number(value);
}

/** An int64 that is a safe integer, as a number; undefined when it does not fit exactly. */
export function int64ToSafeNumber(value: Int64): number | undefined {
  const n = Number(value);
  return Number.isSafeInteger(n) ? n : undefined;
}

export function int64ToNumber(value: Int64 | undefined, fallback = 0): number {
  if (value === undefined) return fallback;
  if (typeof value === 'number') return value;
  const n = Number(value);
  if (!Number.isSafeInteger(n)) throw new RangeError(`int64 value ${value} does not fit a JS number`);
  return n;
}
