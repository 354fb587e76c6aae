// TensorProto helpers: read floating-point tensors as Float64Array whatever their storage, and
// write values back in a given dtype. All byte-level access goes through DataView with explicit
// little-endian order (ONNX raw_data is little-endian on every host), which also copes with
// raw_data views that are not 4/8-byte aligned inside the decoded model buffer.
import { DataType, Int64, TensorProto, int64ToSafeNumber } from './onnx-types';

/** Thrown when a tensor's values cannot be read (external data, unsupported dtype, bad length). */
export class TensorDataError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TensorDataError';
  }
}

export const FLOAT_DATA_TYPES: ReadonlySet<number> = new Set([
  DataType.FLOAT,
  DataType.FLOAT16,
  DataType.DOUBLE,
  DataType.BFLOAT16,
]);

const DATA_TYPE_NAMES: Record<number, string> = Object.fromEntries(Object.entries(DataType).map(([k, v]) => [v, k]));

export function dataTypeName(dataType: number | undefined): string {
  return DATA_TYPE_NAMES[dataType ?? 0] ?? `dtype#${dataType}`;
}

/** The dims as numbers; a dim that is negative or beyond 2^53 is a TensorDataError. */
export function tensorDims(tensor: TensorProto): number[] {
  return tensor.dims.map((d) => {
    const n = int64ToSafeNumber(d);
    if (n === undefined || n < 0) throw new TensorDataError(`tensor '${tensor.name ?? '<unnamed>'}': dimension ${d} is not a size (dims [${tensor.dims.join(', ')}])`);
    return n;
  });
}

/** Number of elements; a tensor with no dims is a scalar (1 element). Beyond 2^53: TensorDataError. */
export function tensorElementCount(tensor: TensorProto): number {
  const count = tensorDims(tensor).reduce((a, b) => a * b, 1);
  if (!Number.isSafeInteger(count)) throw new TensorDataError(`tensor '${tensor.name ?? '<unnamed>'}': dims [${tensor.dims.join(', ')}] hold more elements than can be counted`);
  return count;
}

export function isExternalTensor(tensor: TensorProto): boolean {
  return tensor.data_location === 1 || (tensor.external_data?.length ?? 0) > 0;
}

/**
 * Bytes of a tensor that are not held in memory: raw data left in the model file (read on demand),
 * or a fused weight computed when it is written. Attached to a TensorProto as a hidden property;
 * such a tensor has no raw_data of its own. encodeModelChunks and floatReader resolve it.
 */
export interface LazyTensorData {
  /** Size of the raw bytes, known without reading them. */
  readonly byteLength: number;
  /**
   * Fills `target` with bytes [offset, offset + target.byteLength) of the data, reading (or
   * computing) them again on every call: nothing is cached, so a caller streaming through a tensor
   * with one small buffer holds no more than that buffer.
   */
  readInto(target: Uint8Array, offset: number): void;
}

/** All bytes of lazy data, in a new buffer. */
export function readLazy(data: LazyTensorData): Uint8Array {
  const out = new Uint8Array(data.byteLength);
  data.readInto(out, 0);
  return out;
}

const LAZY_DATA = Symbol('bn-fuse.lazyTensorData');

/** Attaches lazy raw data to a tensor (which must not have raw_data) and returns it. */
export function setLazyData(tensor: TensorProto, data: LazyTensorData): TensorProto {
  delete tensor.raw_data;
  Object.defineProperty(tensor, LAZY_DATA, { value: data, enumerable: false, configurable: true });
  return tensor;
}

export function lazyData(tensor: TensorProto): LazyTensorData | undefined {
  return (tensor as unknown as Record<symbol, LazyTensorData | undefined>)[LAZY_DATA];
}

/**
 * Copies bytes [offset, offset + target.byteLength) of a float tensor's little-endian storage into
 * `target`, whatever the storage: lazy, raw_data, external (through `loadExternal`) or typed fields
 * (encoded into the tensor's own dtype, exactly).
 */
export function tensorBytesInto(tensor: TensorProto, target: Uint8Array, offset: number, loadExternal?: ExternalDataLoader): void {
  const lazy = lazyData(tensor);
  if (lazy) return lazy.readInto(target, offset);
  let raw = tensor.raw_data;
  if (isExternalTensor(tensor)) {
    if (!loadExternal) throw new TensorDataError(`tensor '${tensor.name}' stores its data externally`);
    raw = loadExternal(tensor);
  }
  if (raw !== undefined) {
    if (offset + target.byteLength > raw.byteLength) throw new TensorDataError(`tensor '${tensor.name}': raw data has ${raw.byteLength} bytes, reading [${offset}, +${target.byteLength})`);
    target.set(raw.subarray(offset, offset + target.byteLength));
    return;
  }
  const dataType = tensor.data_type ?? DataType.UNDEFINED;
  const width = floatWidth(dataType);
  const reader = floatReader(tensor);
  const view = new DataView(target.buffer, target.byteOffset, target.byteLength);
  const first = offset / width;
  for (let k = 0; k < target.byteLength / width; k++) {
    // Typed storage holds exact values of the dtype: re-encoding them is lossless.
    const v = reader.get(first + k);
    if (dataType === DataType.FLOAT) view.setFloat32(k * 4, v, true);
    else if (dataType === DataType.DOUBLE) view.setFloat64(k * 8, v, true);
    else view.setUint16(k * 2, dataType === DataType.FLOAT16 ? encodeFloat16(v) : encodeBfloat16(v), true);
  }
}

/**
 * Returns the bytes of a tensor stored externally (data_location EXTERNAL), e.g. read from a file
 * next to the model. See external-data.ts.
 */
export type ExternalDataLoader = (tensor: TensorProto) => Uint8Array;

/** Random access to the elements of a floating-point tensor, as exact float64 values. */
export interface FloatReader {
  readonly count: number;
  get(i: number): number;
  /** The little-endian storage when the tensor has raw (or external) bytes: for fast loops. */
  readonly raw?: DataView;
}

/**
 * An element reader over a FLOAT / FLOAT16 / BFLOAT16 / DOUBLE tensor, whatever its storage
 * (raw_data, typed fields, or external data through `loadExternal`). Nothing is copied for raw or
 * external storage, so a large weight can be read without a float64 copy of it.
 */
export function floatReader(tensor: TensorProto, loadExternal?: ExternalDataLoader): FloatReader {
  const name = tensor.name ?? '<unnamed>';
  const count = tensorElementCount(tensor);
  const dataType = tensor.data_type ?? DataType.UNDEFINED;
  const lazy = lazyData(tensor);
  let raw = tensor.raw_data ?? (lazy ? readLazy(lazy) : undefined);
  if (!lazy && isExternalTensor(tensor)) {
    if (!loadExternal) throw new TensorDataError(`tensor '${name}' stores its data externally`);
    raw = loadExternal(tensor);
  }
  switch (dataType) {
    case DataType.FLOAT: {
      if (raw !== undefined) {
        const view = rawView(raw, count, 4, name);
        return { count, get: (i) => view.getFloat32(i * 4, true), raw: view };
      }
      return typedReader(tensor.float_data, count, name, 'float_data');
    }
    case DataType.DOUBLE: {
      if (raw !== undefined) {
        const view = rawView(raw, count, 8, name);
        return { count, get: (i) => view.getFloat64(i * 8, true), raw: view };
      }
      return typedReader(tensor.double_data, count, name, 'double_data');
    }
    case DataType.FLOAT16:
    case DataType.BFLOAT16: {
      const decode = dataType === DataType.FLOAT16 ? decodeFloat16 : decodeBfloat16;
      if (raw !== undefined) {
        const view = rawView(raw, count, 2, name);
        return { count, get: (i) => decode(view.getUint16(i * 2, true)), raw: view };
      }
      // onnx.proto: 16-bit floats in int32_data hold the bit pattern in the low 16 bits.
      const bits = tensor.int32_data;
      if (bits.length !== count) throw new TensorDataError(`tensor '${name}': int32_data has ${bits.length} values, expected ${count}`);
      return { count, get: (i) => decode(bits[i] & 0xffff) };
    }
    default:
      throw new TensorDataError(`tensor '${name}' has dtype ${dataTypeName(dataType)}, not a floating-point type`);
  }
}

function typedReader(values: number[], count: number, name: string, field: string): FloatReader {
  if (values.length !== count) throw new TensorDataError(`tensor '${name}': ${field} has ${values.length} values, expected ${count}`);
  return { count, get: (i) => values[i] };
}

/** Reads a FLOAT / FLOAT16 / BFLOAT16 / DOUBLE tensor as float64 values (exact conversions). */
export function readTensorFloat64(tensor: TensorProto, loadExternal?: ExternalDataLoader): Float64Array {
  const reader = floatReader(tensor, loadExternal);
  const out = new Float64Array(reader.count);
  for (let i = 0; i < out.length; i++) out[i] = reader.get(i);
  return out;
}

function rawView(raw: Uint8Array, count: number, width: number, name: string): DataView {
  if (raw.byteLength !== count * width) {
    throw new TensorDataError(`tensor '${name}': raw_data has ${raw.byteLength} bytes, expected ${count * width}`);
  }
  return new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
}

/** Bytes per element of the float dtypes we write. */
export function floatWidth(dataType: number): number {
  switch (dataType) {
    case DataType.FLOAT:
      return 4;
    case DataType.DOUBLE:
      return 8;
    case DataType.FLOAT16:
    case DataType.BFLOAT16:
      return 2;
    default:
      throw new TensorDataError(`cannot write dtype ${dataTypeName(dataType)} as floating point`);
  }
}

/**
 * Encodes float64 values as little-endian raw_data of `dataType`, rounding once (to nearest, ties to
 * even) from the float64 value straight to the storage type.
 */
function encodeFloatRaw(values: ArrayLike<number>, dataType: number): Uint8Array {
  const width = floatWidth(dataType);
  const bytes = new Uint8Array(values.length * width);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    switch (dataType) {
      case DataType.FLOAT:
        view.setFloat32(i * 4, v, true);
        break;
      case DataType.DOUBLE:
        view.setFloat64(i * 8, v, true);
        break;
      case DataType.FLOAT16:
        view.setUint16(i * 2, encodeFloat16(v), true);
        break;
      default:
        view.setUint16(i * 2, encodeBfloat16(v), true);
    }
  }
  return bytes;
}

/** True when finite `v` becomes infinite once stored as `dataType`. */
export function overflowsIn(v: number, dataType: number): boolean {
  if (!Number.isFinite(v)) return false;
  switch (dataType) {
    case DataType.FLOAT:
      return !Number.isFinite(Math.fround(v));
    case DataType.FLOAT16:
      return (encodeFloat16(v) & 0x7fff) === 0x7c00;
    case DataType.BFLOAT16:
      return (encodeBfloat16(v) & 0x7fff) === 0x7f80;
    default:
      return false;
  }
}

/** A tensor whose raw bytes come from `data` when needed (see LazyTensorData). */
export function makeLazyTensor(name: string, dims: readonly number[], dataType: number, data: LazyTensorData): TensorProto {
  const t = emptyTensor(name, dims, dataType, new Uint8Array(0));
  return setLazyData(t, data);
}

/** A tensor (raw_data storage) over bytes already encoded in `dataType`. */
export function makeRawTensor(name: string, dims: readonly number[], dataType: number, raw: Uint8Array): TensorProto {
  return emptyTensor(name, dims, dataType, raw);
}

/** A new float tensor (raw_data storage). */
export function makeFloatTensor(name: string, dims: readonly number[], values: ArrayLike<number>, dataType: number = DataType.FLOAT): TensorProto {
  const count = dims.reduce((a, b) => a * b, 1);
  if (count !== values.length) throw new TensorDataError(`tensor '${name}': ${values.length} values for dims [${dims.join(', ')}]`);
  return emptyTensor(name, dims, dataType, encodeFloatRaw(values, dataType));
}

/**
 * Returns a copy of `tensor` (same name, dims and dtype) holding `values`, stored as raw_data.
 * Typed-field storage is not reproduced: raw_data is the canonical form all readers accept.
 */
export function withFloatValues(tensor: TensorProto, values: ArrayLike<number>, name = tensor.name ?? ''): TensorProto {
  const dims = tensorDims(tensor);
  const out = makeFloatTensor(name, dims, values, tensor.data_type ?? DataType.FLOAT);
  if (tensor.doc_string !== undefined) out.doc_string = tensor.doc_string;
  return out;
}

export function makeInt64Tensor(name: string, dims: readonly number[], values: readonly Int64[]): TensorProto {
  const bytes = new Uint8Array(values.length * 8);
  const view = new DataView(bytes.buffer);
  values.forEach((v, i) => view.setBigInt64(i * 8, BigInt(v), true));
  return emptyTensor(name, dims, DataType.INT64, bytes);
}

function emptyTensor(name: string, dims: readonly number[], dataType: number, raw: Uint8Array): TensorProto {
  return {
    dims: [...dims],
    data_type: dataType,
    float_data: [],
    int32_data: [],
    string_data: [],
    int64_data: [],
    name,
    raw_data: raw,
    external_data: [],
    double_data: [],
    uint64_data: [],
    metadata_props: [],
  };
}

// ---- 16-bit floats -------------------------------------------------------------------------------

const F64_VIEW = new DataView(new ArrayBuffer(8));

/** 2^e as an exact double, for -1022 <= e <= 1023. */
function pow2(e: number): number {
  F64_VIEW.setUint32(0, (e + 1023) << 20, false);
  F64_VIEW.setUint32(4, 0, false);
  return F64_VIEW.getFloat64(0, false);
}

/** floor(log2(a)) for a finite positive double, from its exponent bits (exact; subnormals give -1023). */
function exponentOf(a: number): number {
  F64_VIEW.setFloat64(0, a, false);
  return ((F64_VIEW.getUint32(0, false) >>> 20) & 0x7ff) - 1023;
}

function roundHalfEven(x: number): number {
  const f = Math.floor(x);
  const d = x - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

/** Rounds a double to a binary float with the given exponent/mantissa widths; returns its bits. */
function encodeMiniFloat(v: number, expBits: number, mantBits: number): number {
  const bias = (1 << (expBits - 1)) - 1;
  const expMask = (1 << expBits) - 1;
  const sign = v < 0 || Object.is(v, -0) ? 1 << (expBits + mantBits) : 0;
  if (Number.isNaN(v)) return (expMask << mantBits) | (1 << (mantBits - 1));
  const a = Math.abs(v);
  if (a === Infinity) return sign | (expMask << mantBits);
  if (a === 0) return sign;
  const minNormalExp = 1 - bias;
  let e = exponentOf(a);
  if (e < minNormalExp) {
    // Subnormal range: count units of 2^(minNormalExp - mantBits). A carry into 1 << mantBits is the
    // smallest normal number, which is exactly the right bit pattern.
    return sign | roundHalfEven(a * pow2(mantBits - minNormalExp));
  }
  let m = roundHalfEven((a * pow2(-e) - 1) * pow2(mantBits));
  if (m === 1 << mantBits) {
    m = 0;
    e += 1;
  }
  if (e > bias) return sign | (expMask << mantBits);
  return sign | ((e + bias) << mantBits) | m;
}

function decodeMiniFloat(bits: number, expBits: number, mantBits: number): number {
  const bias = (1 << (expBits - 1)) - 1;
  const expMask = (1 << expBits) - 1;
  const sign = (bits >>> (expBits + mantBits)) & 1 ? -1 : 1;
  const exp = (bits >>> mantBits) & expMask;
  const mant = bits & ((1 << mantBits) - 1);
  if (exp === expMask) return mant === 0 ? sign * Infinity : NaN;
  if (exp === 0) return sign * mant * pow2(1 - bias - mantBits);
  return sign * (mant + (1 << mantBits)) * pow2(exp - bias - mantBits);
}

/** IEEE binary16 bits of `v`, rounded to nearest even directly from float64 (no double rounding). */
export function encodeFloat16(v: number): number {
  return encodeMiniFloat(v, 5, 10);
}

export function decodeFloat16(bits: number): number {
  return decodeMiniFloat(bits, 5, 10);
}

export function encodeBfloat16(v: number): number {
  return encodeMiniFloat(v, 8, 7);
}

export function decodeBfloat16(bits: number): number {
  return decodeMiniFloat(bits, 8, 7);
}
